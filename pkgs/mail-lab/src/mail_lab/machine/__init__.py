"""A lab machine: the NixOS test driver's Machine API, realized by a systemd-nspawn container
booting Debian's systemd on an overlay of the cached root filesystem."""
