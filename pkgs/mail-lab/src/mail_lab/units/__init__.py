"""systemd units: the lab's description of a daemon's service, NixOS `systemd.services`
definitions rendered to unit files as NixOS renders them, and their installation in a machine."""
