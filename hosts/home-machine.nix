# The home server as both example homes have it (hosts/home with simple-nixos-mailserver,
# hosts/home-plain with NixOS' own mail services): its end of the tunnel, the namespace `wg`
# holding the forwarded addresses (198.51.100.11, 2001:db8:1::11), the ISP line and the machine.
# Documentation addresses (tests/topology.nix): put in your own, and your own keys.
#
# Before the first switch: `umask 077; wg genkey > /etc/wireguard/wg0.key`, and give
# `wg pubkey < /etc/wireguard/wg0.key` to the gateway's homeMail.gateway.homes.home.publicKey.
# At the vServer provider: PTR of the forwarded addresses = mail.example.org.
{ ... }:
{
  imports = [ ./machine.nix ];

  homeMail.home = {
    enable = true;
    namespace = "wg";
    addresses = [
      "198.51.100.11/32"
      "2001:db8:1::11/128"
    ];
    wireguard = {
      interface = "wg0";
      privateKeyFile = "/etc/wireguard/wg0.key";
    };
    gateway = {
      endpoint = "198.51.100.10:51820";
      # `wg pubkey < /etc/wireguard/wg0.key` on the gateway (this one is the test world's).
      publicKey = "tggv2towuHBkiI9bo92jAObTbOyhHE7oyKHaJdqlhyQ=";
    };
    # knot-resolver answers inside the namespace.
    nameservers = [ "127.0.0.1" ];
    # SMTP, SMTPS submission, IMAPS; port 80 for ACME is added automatically.
    openPorts.tcp = [
      25
      465
      993
    ];
    # postfix, dovecot, the resolver and the ACME orders of acmeCertificates are confined
    # automatically.
  };

  networking = {
    hostName = "mail";
    domain = "example.org";
    # The ISP line: DHCP (and router advertisements) on eth0, as most home routers hand out.
    useDHCP = false;
    interfaces.eth0.useDHCP = true;
  };

  # The home server's boot loader: replace with yours (nixos-generate-config).
  boot.loader.grub.device = "/dev/sda";
}
