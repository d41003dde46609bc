# Example: the gateway, a rented vServer whose provider routes 198.51.100.0/24 and 2001:db8:1::/64
# to its eth0. It keeps 198.51.100.10 and 2001:db8:1::10 for itself and forwards 198.51.100.11 and
# 2001:db8:1::11 to the home over WireGuard. Documentation addresses (tests/topology.nix): put in
# your own, and your own keys.
#
# Before the first switch, create the key: `umask 077; wg genkey > /etc/wireguard/wg0.key`, and
# give `wg pubkey < /etc/wireguard/wg0.key` to the home (homeMail.home.gateway.publicKey).
{ ... }:
{
  imports = [ ../machine.nix ];

  homeMail.gateway = {
    enable = true;
    uplink.interface = "eth0";
    wireguard = {
      interface = "wg0";
      listenPort = 51820;
      privateKeyFile = "/etc/wireguard/wg0.key";
    };
    homes.home = {
      # `wg pubkey < /etc/wireguard/wg0.key` at home (this one is the test world's).
      publicKey = "pL6sgVmg/yaxBGFUB+AKsgr5LNHMGD9IfCIhiS9FRxg=";
      addresses = [
        "198.51.100.11/32"
        "2001:db8:1::11/128"
      ];
    };
    # SMTP, HTTP (ACME HTTP-01 challenges), SMTPS submission, IMAPS: the ports the home opens.
    forwardedPorts.tcp = [
      25
      80
      465
      993
    ];
  };

  # home-mail-doctor on the gateway: the mail name and domains whose DNS it checks.
  homeMail.doctor = {
    mailName = "mail.example.org";
    domains = [ "example.org" ];
  };

  networking = {
    hostName = "gateway";
    useDHCP = false;
    # The gateway's own addresses only: the forwarded ones must not be configured here.
    interfaces.eth0 = {
      ipv4.addresses = [
        {
          address = "198.51.100.10";
          prefixLength = 24;
        }
      ];
      ipv6.addresses = [
        {
          address = "2001:db8:1::10";
          prefixLength = 64;
        }
      ];
    };
    defaultGateway = {
      address = "198.51.100.1";
      interface = "eth0";
    };
    defaultGateway6 = {
      address = "2001:db8:1::1";
      interface = "eth0";
    };
    nameservers = [
      "192.0.2.53"
      "2001:db8:3::53"
    ];
  };

  # The vServer's boot loader: replace with your provider's (nixos-generate-config).
  boot.loader.grub.device = "/dev/vda";
}
