# Example: the same home server (../home-machine.nix: the tunnel, the namespace `wg`, the machine)
# with NixOS' own mail services instead of simple-nixos-mailserver: postfix receives for
# example.org and hands mail to dovecot over LMTP, dovecot (2.4, the default from
# system.stateVersion 26.05 on) stores it and serves IMAPS, rspamd filters and DKIM-signs (its
# redis over a unix socket), knot-resolver resolves. homeMail.home confines postfix, dovecot,
# kresd and the ACME order to `wg` and adds the duplicate filter (dropDuplicateDeliveries).
#
# Before the first switch, besides the WireGuard key (../home-machine.nix):
# - the accounts: `doveadm pw -s BLF-CRYPT` for each, as lines `alice@example.org:{BLF-CRYPT}...`
#   in /var/lib/mail-passwords/users (root-owned, mode 0640, group dovecot2);
# - the DKIM key rspamd signs with: `rspamadm dkim_keygen -d example.org -s mail -k
#   /var/lib/rspamd/dkim/example.org.mail.key` (owned by rspamd), its record at the DNS as
#   mail._domainkey.example.org.
# At the DNS of example.org: MX mail.example.org, A/AAAA of mail.example.org = the forwarded
# addresses, SPF listing them, DMARC.
{ pkgs, ... }:
let
  fqdn = "mail.example.org";
  domain = "example.org";
  certificateDirectory = "/var/lib/acme/${fqdn}";
  # The mailboxes postfix accepts mail for (the accounts of the password file).
  mailboxes = [ "alice@${domain}" ];
  mailHome = "/var/vmail/%{user | domain}/%{user | username}";
in
{
  imports = [ ../home-machine.nix ];

  # The ACME order runs in `wg` and answers the HTTP-01 challenge itself on port 80.
  homeMail.home.acmeCertificates = [ fqdn ];
  security.acme = {
    acceptTerms = true;
    defaults.email = "postmaster@${domain}";
    certs.${fqdn} = { };
  };

  services.postfix = {
    enable = true;
    settings.main = {
      myhostname = fqdn;
      mydestination = [ "localhost" ];
      virtual_mailbox_domains = [ domain ];
      virtual_mailbox_maps = [ "hash:/var/lib/postfix/conf/virtual_mailboxes" ];
      virtual_transport = "lmtp:unix:private/dovecot-lmtp";
      smtpd_tls_chain_files = [
        "${certificateDirectory}/key.pem"
        "${certificateDirectory}/fullchain.pem"
      ];
      smtpd_tls_security_level = "may";
      smtp_tls_security_level = "may";
    };
    mapFiles.virtual_mailboxes = pkgs.writeText "virtual_mailboxes" (
      builtins.concatStringsSep "" (map (mailbox: "${mailbox} OK\n") mailboxes)
    );
    # Submission with implicit TLS (465), authenticated by dovecot.
    enableSubmissions = true;
    submissionsOptions = {
      smtpd_sasl_auth_enable = "yes";
      smtpd_sasl_type = "dovecot";
      smtpd_sasl_path = "private/auth";
      smtpd_client_restrictions = "permit_sasl_authenticated,reject";
      milter_macro_daemon_name = "ORIGINATING";
    };
  };

  services.dovecot2 = {
    enable = true;
    settings = {
      # Dovecot 2.4 requires both (nixpkgs' module asserts them): the configuration format this
      # file is written for, and the oldest version the stored mail must stay readable by.
      dovecot_config_version = "2.4.0";
      dovecot_storage_version = "2.4.0";
      protocols = {
        imap = true;
        lmtp = true;
      };
      postmaster_address = "postmaster@${domain}";
      # Every account's mail as user vmail (created by the dovecot module from mail_uid/mail_gid).
      mail_uid = "vmail";
      mail_gid = "vmail";
      mail_driver = "maildir";
      mail_home = mailHome;
      mail_path = "~/Maildir";
      ssl = "required";
      ssl_server_cert_file = "${certificateDirectory}/fullchain.pem";
      ssl_server_key_file = "${certificateDirectory}/key.pem";
      "passdb passwd-file".passwd_file_path = "/var/lib/mail-passwords/users";
      "userdb static" = { };
      # postfix hands over mail and asks for logins through its queue directory.
      "service lmtp"."unix_listener /var/lib/postfix/queue/private/dovecot-lmtp" = {
        user = "postfix";
        group = "postfix";
        mode = "0600";
      };
      "service auth"."unix_listener /var/lib/postfix/queue/private/auth" = {
        user = "postfix";
        group = "postfix";
        mode = "0660";
      };
      "service imap-login"."inet_listener imaps" = {
        port = 993;
        ssl = true;
      };
    };
  };
  systemd.tmpfiles.rules = [ "d /var/vmail 0750 vmail vmail - -" ];

  services.rspamd = {
    enable = true;
    # The milter for postfix's smtpd and its local submissions.
    postfix.enable = true;
    locals."dkim_signing.conf".text = ''
      path = "/var/lib/rspamd/dkim/$domain.$selector.key";
      selector = "mail";
    '';
  };

  services.kresd.enable = true;

  # home-mail-doctor: the mail name, the domains and the DKIM key rspamd signs with.
  homeMail.doctor = {
    mailName = fqdn;
    domains = [ domain ];
    dkim = {
      selector = "mail";
      keyFile = "/var/lib/rspamd/dkim/${domain}.mail.key";
    };
  };
}
