# Example: the home server, behind an ISP line that blocks port 25, running simple-nixos-mailserver
# for example.org on the addresses the gateway forwards (../home-machine.nix: the tunnel, the
# namespace `wg` and the machine). Postfix, dovecot, knot-resolver and the ACME order run in `wg`;
# the rest of the machine keeps using the ISP.
#
# Before the first switch, besides the WireGuard key (../home-machine.nix): the password hash of
# each account: `mkpasswd -sm bcrypt > /var/lib/mail-passwords/alice`.
# At the DNS of example.org: MX mail.example.org, A/AAAA of mail.example.org = the forwarded
# addresses, SPF listing them, the DKIM record simple-nixos-mailserver generates.
{ ... }:
{
  imports = [ ../home-machine.nix ];

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

  # home-mail-doctor: mailName and domains come from mailserver; the DKIM key it signs with
  # (simple-nixos-mailserver's key directory and selector), to compare with the record in DNS.
  homeMail.doctor.dkim = {
    selector = "mail";
    keyFile = "/var/dkim/example.org.mail.key";
  };

  security.acme = {
    acceptTerms = true;
    defaults.email = "postmaster@example.org";
    # HTTP-01 on the forwarded addresses: homeMail.home sets listenHTTP = ":80" inside `wg`.
    certs."mail.example.org" = { };
  };
}
