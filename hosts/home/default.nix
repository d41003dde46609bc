# Example: the home server, behind an ISP line that blocks port 25, running simple-nixos-mailserver
# for example.org on the addresses the gateway forwards (198.51.100.11, 2001:db8:1::11). Postfix,
# dovecot, knot-resolver and the ACME order run in namespace `wg`; the rest of the machine keeps
# using the ISP. Documentation addresses (tests/topology.nix): put in your own, and your own keys.
#
# Before the first switch: `umask 077; wg genkey > /etc/wireguard/wg0.key` (give
# `wg pubkey < /etc/wireguard/wg0.key` to the gateway's homeMail.gateway.homes.home.publicKey), and
# the password hash of each account: `mkpasswd -sm bcrypt > /var/lib/mail-passwords/alice`.
# At the DNS of example.org: MX mail.example.org, A/AAAA of mail.example.org = the forwarded
# addresses, SPF listing them, the DKIM record simple-nixos-mailserver generates; at the vServer
# provider: PTR of the forwarded addresses = mail.example.org.
{ ... }:
{
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
    # knot-resolver (mailserver.localDnsResolver) answers inside the namespace.
    nameservers = [ "127.0.0.1" ];
    # What simple-nixos-mailserver serves below; port 80 for ACME is added automatically.
    openPorts.tcp = [
      25
      465
      993
    ];
    # postfix, dovecot, kresd@1 and the ACME order of mailserver.x509.useACMEHost are confined
    # automatically.
  };

  mailserver = {
    enable = true;
    # Copy this from the setup guide of your simple-nixos-mailserver release; a wrong value fails
    # an assertion that points to the migration guide.
    stateVersion = 5;
    fqdn = "mail.example.org";
    domains = [ "example.org" ];
    accounts."alice@example.org" = {
      hashedPasswordFile = "/var/lib/mail-passwords/alice";
    };
    x509.useACMEHost = "mail.example.org";
  };

  security.acme = {
    acceptTerms = true;
    defaults.email = "postmaster@example.org";
    # HTTP-01 on the forwarded addresses: homeMail.home sets listenHTTP = ":80" inside `wg`.
    certs."mail.example.org" = { };
  };

  networking = {
    hostName = "mail";
    domain = "example.org";
    # The ISP line: DHCP (and router advertisements) on eth0, as most home routers hand out.
    useDHCP = false;
    interfaces.eth0.useDHCP = true;
  };

  services.openssh.enable = true;

  # The home server's disk and boot loader: replace with yours (nixos-generate-config).
  boot.loader.grub.device = "/dev/sda";
  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };

  system.stateVersion = "26.05";
}
