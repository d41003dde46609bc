# The machines of the test world, as runNixOSTest nodes (same names as the lab's machines).
{
  internet = ./internet.nix;
  gateway = ./gateway.nix;
  home = ./home.nix;
  remote = ./remote.nix;
  client = ./client.nix;
}
