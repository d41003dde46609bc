# Declarative network namespaces: homeMail.netns.<name>.
#
# One template unit `netns@.service` creates a namespace (removing a stale one first) with
# loopback up and deletes it on stop; a drop-in per namespace (`netns@<name>`) applies the
# namespace's sysctls and nftables ruleset and pulls it into multi-user.target. The services listed
# in homeMail.netns.<name>.services run inside it (lib.moveNs): they are bound to netns@<name>, so
# recreating the namespace restarts them into the new one.
#
# The units come from lib/confine.nix, the same functions that produce the home plan's `units`,
# so the NixOS units and the lab's never diverge.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    attrNames
    concatMap
    filter
    length
    mapAttrsToList
    mkIf
    mkMerge
    mkOption
    types
    ;
  homeMailLib = import ../lib;
  inherit (import ../lib/self.nix) confine names;
  renderHelpers = import ./helpers/render.nix { inherit lib; };
  definitions = import ./helpers/definitions.nix { inherit lib; };

  cfg = config.homeMail.netns;
  programs = renderHelpers.programsOf pkgs;
  render = homeMailLib.renderUnit programs;

  namespaceOptions =
    { name, ... }:
    {
      options = {
        sysctl = mkOption {
          type = types.attrsOf (types.either types.int types.str);
          default = {
            "net.ipv4.conf.all.forwarding" = 0;
            "net.ipv6.conf.all.forwarding" = 0;
          };
          example = {
            "net.ipv6.conf.all.accept_ra" = 0;
            "net.ipv6.conf.all.keep_addr_on_down" = 1;
          };
          description = ''
            Sysctls set inside the namespace when it is created (`sysctl -w` in the namespace,
            from `netns@${name}.service`). Each namespace has its own `net.*` settings; the host's
            `boot.kernel.sysctl` does not reach them. Must not be empty.
          '';
        };
        nftablesRuleset = mkOption {
          type = types.lines;
          default = "";
          example = ''
            table inet confined {
            	chain input {
            		type filter hook input priority filter; policy drop;
            		iifname "lo" accept
            		ct state established,related accept
            	}
            }
          '';
          description = ''
            An `nft -f` ruleset loaded inside the namespace when it is created. The host's
            `networking.firewall` and `networking.nftables` do not apply inside other namespaces.
            Empty: no firewall in the namespace. Changes take effect when `netns@${name}.service`
            restarts (which a configuration switch does, restarting the confined services too).
          '';
        };
        resolvConf = mkOption {
          type = types.lines;
          default = "";
          example = "nameserver 127.0.0.1\n";
          description = ''
            The `resolv.conf` of the namespace: written to `/etc/netns/${name}/resolv.conf` and
            bind-mounted over `/etc/resolv.conf` for the confined services
            (`NetworkNamespacePath=` alone would leave them the host's). Empty: the C library
            asks a resolver on the namespace's own loopback.
          '';
        };
        services = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [
            "postfix"
            "dovecot"
            "kresd@1"
          ];
          description = ''
            Attribute names of `systemd.services` (without `.service`) to run inside this
            namespace: they get `NetworkNamespacePath=/run/netns/${name}`, the namespace's
            resolv.conf, no access to the host's nscd, `BindsTo=`/`After=` `netns@${name}.service`
            (stopping or restarting the namespace stops or restarts them) and are wanted by it
            (starting it starts them). A template (`kresd@`) confines all its instances but is
            started by nothing here; name the instances (`kresd@1`, a drop-in over the template)
            to have them started with the namespace.
          '';
        };
        dependencies = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "wireguard-wg0.service" ];
          description = ''
            Units every confined service of this namespace is ordered after and wants, besides
            `netns@${name}.service`: typically the unit that gives the namespace its way out.
          '';
        };
      };
    };

  namespaceNames = attrNames cfg;

  # homeMail.home (modules/mail-home) renders its namespace's units from its plan, the template
  # among them; its confined services count for the check that a service has one namespace.
  home = config.homeMail.home or { enable = false; };
  homeConfinements =
    if home.enable then
      map (service: {
        inherit service;
        inherit (home) namespace;
      }) home.confinedServices
    else
      [ ];

  # Every (service, namespace) pair, to find services confined to two namespaces.
  confinements = concatMap (
    namespace: map (service: { inherit service namespace; }) cfg.${namespace}.services
  ) namespaceNames;
  namespacesOf =
    service:
    lib.unique (
      map (pair: pair.namespace) (filter (pair: pair.service == service) (confinements ++ homeConfinements))
    );

  namespaceChecks =
    name:
    let
      path = "homeMail.netns.${name}";
    in
    [
      (definitions.assertionAbout path (
        builtins.match "[A-Za-z0-9_-]{1,15}" name != null
      ) "the namespace name \"${name}\" must be 1 to 15 letters, digits, \"_\" or \"-\": it becomes /run/netns/<name>, /etc/netns/<name> and the instance of netns@<name>.service")
      (definitions.assertionAbout path (
        !builtins.elem name [
          "init"
          "default"
        ]
      ) "\"${name}\" is how tools name the host's own namespace; choose another name, e.g. \"wg\"")
      (definitions.assertionAbout "${path}.sysctl" (
        cfg.${name}.sysctl != { }
      ) "is empty; netns@${name}.service runs `sysctl -w` with these settings, so give at least one, e.g. { \"net.ipv4.conf.all.forwarding\" = 0; }")
    ];

  serviceChecks = map (
    service:
    let
      namespaces = namespacesOf service;
    in
    definitions.assertionAbout "homeMail.netns.${builtins.head namespaces}.services" (
      length namespaces == 1
    ) "\"${service}\" is confined to namespaces ${lib.concatMapStringsSep ", " (n: "\"${n}\"") namespaces}; a service can run in one namespace only: remove it from all but one of homeMail.netns.<name>.services"
  ) (lib.unique (map (pair: pair.service) confinements));
in
{
  _file = toString ./netns.nix;

  options.homeMail.netns = mkOption {
    type = types.attrsOf (types.submodule namespaceOptions);
    default = { };
    example = lib.literalExpression ''
      {
        wg = {
          resolvConf = "nameserver 127.0.0.1\n";
          services = [ "postfix" "dovecot" "kresd@1" ];
          dependencies = [ "wireguard-wg0.service" ];
        };
      }
    '';
    description = ''
      Network namespaces created at boot by `netns@<name>.service`, each with its own sysctls,
      firewall and resolv.conf, and the services confined to them.
    '';
  };

  config = mkIf (cfg != { }) {
    assertions = concatMap namespaceChecks namespaceNames ++ serviceChecks;

    systemd.services = mkMerge (
      lib.optional (!home.enable) { ${names.netnsTemplate} = render confine.netnsTemplate; }
      ++ mapAttrsToList (name: namespace: {
        ${(names.netns name).service} = render (confine.netnsInstance {
          inherit name;
          inherit (namespace) sysctl;
        }) // {
          # The ruleset and resolv.conf are files, not part of the unit: restart on their change.
          restartTriggers = [
            namespace.nftablesRuleset
            namespace.resolvConf
          ];
        };
      }) cfg
      ++ map (pair: {
        ${pair.service} = homeMailLib.moveNs {
          inherit (pair) namespace service;
          after = cfg.${pair.namespace}.dependencies;
          wants = cfg.${pair.namespace}.dependencies;
        };
      }) confinements
    );

    environment.etc = mkMerge (
      mapAttrsToList (
        name: namespace:
        let
          inherit (names.netns name) etc;
        in
        {
          ${etc.resolvConf}.text = namespace.resolvConf;
          ${etc.ruleset}.text = namespace.nftablesRuleset;
        }
      ) cfg
    );
  };
}
