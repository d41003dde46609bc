# mail-test-agent: the lab's mail test agent (pkgs/mail-lab/src/mail_lab/mail/agent.py, standard
# library only) as a program of its own, for the NixOS VM tests' machines: the same command the lab
# puts on its machines' PATH. `pkgs.callPackage ./package.nix { }` (the flake's
# packages.<system>.mail-test-agent).
{ writers }:
writers.writePython3Bin "mail-test-agent" {
  # ruff and mypy --strict check this file with the lab (tests/test_code_quality.py); flake8's
  # defaults (79 columns) are not the project's style.
  doCheck = false;
} ../mail-lab/src/mail_lab/mail/agent.py
