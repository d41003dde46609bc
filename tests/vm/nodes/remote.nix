# The remote mail server (example.net): postfix receiving for bob into a Maildir, rspamd judging
# SPF, DKIM and DMARC and recording them in Authentication-Results. As the lab's `remote`.
{
  lib,
  pkgs,
  world,
  ...
}:
let
  attached = world.attached "remote";
  machine = world.machines.remote;
  account = world.world.accounts.remote;
  user = builtins.head (lib.splitString "@" account);
  remoteDomains = [
    world.world.domains.remote
  ]
  ++ lib.attrNames (world.world.remoteDomains or { });
  # /var/mail/bob/ -> base /var/mail, mailbox "bob/"
  maildir = lib.removeSuffix "/" machine.maildir;
  mailboxBase = builtins.dirOf maildir;
  mailbox = "${builtins.baseNameOf maildir}/";
  mailboxes = pkgs.writeText "virtual-mailboxes" (
    lib.concatMapStrings (domain: "${user}@${domain} ${mailbox}\n") remoteDomains
  );
  vmailId = 5000;
in
{
  virtualisation.memorySize = 1536;
  virtualisation.interfaces.eth1 = attached.virtualInterface;
  networking.interfaces.eth1 = attached.interface;
  networking.defaultGateway = attached.defaultGateway;
  networking.defaultGateway6 = attached.defaultGateway6;
  networking.nameservers = world.nameservers;
  networking.hostName = attached.hostName;
  networking.domain = attached.domain;
  networking.firewall.allowedTCPPorts = [ 25 ];

  services.postfix = {
    enable = true;
    settings.main = {
      myhostname = machine.fqdn;
      mydestination = "";
      inet_protocols = "all";
      virtual_mailbox_domains = remoteDomains;
      virtual_mailbox_base = mailboxBase;
      virtual_mailbox_maps = "texthash:${mailboxes}";
      virtual_uid_maps = "static:${toString vmailId}";
      virtual_gid_maps = "static:${toString vmailId}";
      smtpd_recipient_restrictions = [
        "permit_mynetworks"
        "reject_unauth_destination"
      ];
    };
  };
  users.users.vmail = {
    uid = vmailId;
    group = "vmail";
    isSystemUser = true;
  };
  users.groups.vmail.gid = vmailId;
  systemd.tmpfiles.rules = [ "d ${maildir} 0700 vmail vmail - -" ];

  services.rspamd = {
    enable = true;
    postfix.enable = true;
    locals."milter_headers.conf".text = ''
      use = ["authentication-results"];
      skip_local = false;
      skip_authenticated = false;
    '';
  };
}
