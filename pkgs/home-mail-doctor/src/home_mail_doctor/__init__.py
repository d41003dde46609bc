"""home-mail-doctor: run every check of this machine's role against its plan and name the fix."""
