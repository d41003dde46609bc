"""`python -m home_mail_doctor`: the same as the `home-mail-doctor` command."""

import sys

from home_mail_doctor.cli import main

sys.exit(main())
