# The home: hosts/home (simple-nixos-mailserver for example.org) on the test world's ISP line,
# with the test world's keys, a test-CA certificate for postfix and dovecot (the lab's choice too:
# every machine trusts that CA), ACME from the internet's pebble, and knot-resolver asking only the
# internet's name server.
{
  lib,
  pkgs,
  world,
  homeMailModules,
  mailserverModule,
  ...
}:
let
  attached = world.attached "home";
  fqdn = world.machines.home.fqdn;
  domain = world.world.domains.home;
  account = world.world.accounts.home;
  dns = world.world.internet.dns;
  # Modules kresd loads by default that query the root zone or the real internet by themselves.
  rootTalkingModules = [
    "ta_update"
    "ta_signal_query"
    "ta_sentinel"
    "priming"
    "detect_time_skew"
    "detect_time_jump"
  ];
in
{
  imports = [
    mailserverModule
    homeMailModules.mail-home
    ../../../hosts/home
  ];

  virtualisation.memorySize = 2048;
  virtualisation.interfaces.eth1 = attached.virtualInterface;
  networking.interfaces = lib.mkForce { eth1 = attached.interface; };
  networking.defaultGateway = attached.defaultGateway;
  networking.defaultGateway6 = attached.defaultGateway6;
  # The host's own resolver (rspamd, everything outside the namespace): over the ISP line.
  networking.nameservers = world.nameservers;

  # Exactly the test world's intent (its `services` are what the module confines by itself), and
  # the ACME order of the mail name.
  homeMail.home = lib.mkForce (
    builtins.removeAttrs world.topology.homeIntent [ "services" ]
    // {
      enable = true;
      acmeCertificates = [ fqdn ];
    }
  );

  environment.etc."wireguard/wg0.key" = {
    text = world.world.keys.home.private;
    mode = "0400";
  };

  mailserver = {
    x509 = {
      useACMEHost = lib.mkForce null;
      certificateFile = world.secrets.home.certificate;
      privateKeyFile = world.secrets.home.key;
    };
    # Test-only password (tests/topology.nix), as a managed cleartext password file.
    accounts = lib.mkForce {
      ${account}.passwordFile = pkgs.writeText "${account}-password" world.world.passwords.${account};
    };
  };

  # The DKIM key the internet's zone publishes (tests/vm/secrets): simple-nixos-mailserver keeps
  # an existing key in its key directory instead of generating one.
  systemd.tmpfiles.rules = [
    "d /var/dkim 0750 rspamd rspamd - -"
    "C /var/dkim/${domain}.${world.secrets.dkimSelector}.key - - - - ${world.secrets.dkimKey domain}"
    "z /var/dkim/${domain}.${world.secrets.dkimSelector}.key 0600 rspamd rspamd - -"
  ];

  security.acme.defaults.server = "https://${world.acme.name}:${toString world.acme.port}/dir";

  # As the lab's kresd: everything goes to the internet's name server, nothing to the root.
  services.kresd.extraConfig = ''
    ${lib.concatMapStrings (module: "modules.unload('${module}')\n") rootTalkingModules}
    trust_anchors.remove('.')
    policy.add(policy.all(policy.STUB({ '${dns.ipv4}', '${dns.ipv6}' })))
  '';
}
