# What both VM homes (home.nix with simple-nixos-mailserver, home-plain.nix without it) take from
# the test world: the ISP line, the test world's intent and keys, ACME from the internet's pebble,
# and a resolver asking only the internet's name server. Not a node itself.
{
  lib,
  world,
  homeMailModules,
  ...
}:
let
  attached = world.attached "home";
  fqdn = world.machines.home.fqdn;
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
  imports = [ homeMailModules.mail-home ];

  virtualisation.memorySize = 2048;
  virtualisation.interfaces.eth1 = attached.virtualInterface;
  networking.hostName = attached.hostName;
  networking.domain = attached.domain;
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

  # The doctor's view of the test world (its DKIM key: home.nix, home-plain.nix): the mail name,
  # the domain and the test DNSBL zone the internet's name server serves, never a public list.
  # Forced: the example hosts set their own.
  homeMail.doctor = lib.mapAttrs (_: lib.mkForce) {
    inherit (world.topology.doctor.home) mailName domains dnsbl;
  };

  environment.etc."wireguard/wg0.key" = {
    text = world.world.keys.home.private;
    mode = "0400";
  };

  security.acme.defaults.server = "https://${world.acme.name}:${toString world.acme.port}/dir";

  # As the lab's kresd: everything goes to the internet's name server, nothing to the root. For
  # whichever resolver the mail server enables: knot-resolver 5 (services.kresd) or 6
  # (services.knot-resolver); the other's settings are unused.
  services.kresd.extraConfig = ''
    ${lib.concatMapStrings (module: "modules.unload('${module}')\n") rootTalkingModules}
    trust_anchors.remove('.')
    policy.add(policy.all(policy.STUB({ '${dns.ipv4}', '${dns.ipv6}' })))
  '';
  services.knot-resolver.settings = {
    dnssec = false;
    forward = [
      {
        subtree = ".";
        servers = [
          dns.ipv4
          dns.ipv6
        ];
        options.authentication = false;
      }
    ];
  };
}
