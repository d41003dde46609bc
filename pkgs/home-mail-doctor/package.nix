# home-mail-doctor, built from this directory: `pkgs.callPackage ./package.nix { }` (the modules'
# default homeMail.doctor.package and the flake's packages.<system>.home-mail-doctor).
{
  lib,
  python3Packages,
  iproute2,
  util-linux,
  wireguard-tools,
  nftables,
}:
let
  pyproject = builtins.fromTOML (builtins.readFile ./pyproject.toml);
in
python3Packages.buildPythonApplication {
  pname = pyproject.project.name;
  inherit (pyproject.project) version;
  pyproject = true;
  src = ./.;
  build-system = [ python3Packages.setuptools ];
  dependencies = with python3Packages; [
    pyroute2
    dnspython
    pyspf
    dkimpy
    cryptography
  ];
  # nsenter (util-linux), `wg show`, `nft -j`; systemctl and postqueue come from the system.
  makeWrapperArgs = [
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [
      iproute2
      util-linux
      wireguard-tools
      nftables
    ])
  ];
  meta = {
    description = pyproject.project.description;
    mainProgram = "home-mail-doctor";
  };
}
