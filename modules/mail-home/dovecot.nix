# dovecot: the plan's duplicate filter (plan.delivery), for both Dovecot generations
# (docs/design.md, "Exactly-once delivery").
arguments@{
  lib,
  options,
  pkgs,
  ...
}:
let
  inherit (lib) mkDefault mkIf mkMerge optional;
  inherit (import ./context.nix arguments)
    cfg
    root
    plan
    dovecot
    dovecot24
    mailserver
    ;
  duplicateFilter = plan.delivery.duplicateFilter;
  duplicateFilterFile = builtins.toFile "drop-duplicates.sieve" duplicateFilter.script;
  duplicateFilterName = "home_mail_drop_duplicates";
  filterDuplicates = cfg.enable && dovecot.enable && duplicateFilter != null;
  # Dovecot 2.3: nixpkgs chowns the compiled sieve.scripts to these and fails without them.
  sieveScriptOwnerSet =
    let
      settings = dovecot.settings or { };
    in
    (settings.mail_uid or null) != null && (settings.mail_gid or null) != null;
in
{
  _file = toString ./dovecot.nix;

  config = mkMerge [
    (mkIf (filterDuplicates && !dovecot24) (mkMerge [
      {
        warnings = optional (!sieveScriptOwnerSet) "${root}.dropDuplicateDeliveries: with Dovecot 2.3, nixpkgs' services.dovecot2.sieve.scripts needs services.dovecot2.settings.mail_uid and mail_gid (the owner of the compiled scripts), which are not set, so the duplicate filter is left out and retried copies of a message are not dropped; set both (the user and group your mail is stored as), use Dovecot 2.4 (system.stateVersion 26.05, or services.dovecot2.package = pkgs.dovecot), or set ${root}.dropDuplicateDeliveries = false";
      }
      (mkIf sieveScriptOwnerSet {
        # A default: a script of the mail server's own at this stage wins, and the warning says so.
        services.dovecot2.sieve.scripts.${duplicateFilter.stage} = mkDefault duplicateFilterFile;
        warnings = optional (
          (dovecot.sieve.scripts.${duplicateFilter.stage} or null) != duplicateFilterFile
        ) "${root}.dropDuplicateDeliveries: services.dovecot2.sieve.scripts.${duplicateFilter.stage} is set elsewhere, so dovecot does not drop retried copies of a message; add the `duplicate` test of this module's drop-duplicates.sieve to that script, or set ${root}.dropDuplicateDeliveries = false";
      })
    ]))

    (mkIf (filterDuplicates && dovecot24) {
      # Dovecot 2.4: a named script of its own (`sieve_script <name> { type = before; ... }`),
      # beside any the mail server defines.
      services.dovecot2.settings."sieve_script ${duplicateFilterName}" = {
        type = duplicateFilter.stage;
        path = duplicateFilterFile;
      };
    })

    # Both generations: nixpkgs renders dovecot.conf from `settings` for 2.3 too.
    (mkIf filterDuplicates {
      services.dovecot2.settings."protocol lmtp" = lib.mapAttrs (_: mkDefault) plan.delivery.dovecotLmtp;
    })

    (mkIf (filterDuplicates && !mailserver.enable) (mkMerge [
      {
        # nixpkgs' dovecot finds plugins only in packages of environment.systemPackages.
        environment.systemPackages = [ (dovecot.package.passthru.dovecot_pigeonhole or pkgs.dovecot_pigeonhole) ];
      }
      # mkIf, not `if`: which attributes a module defines must not depend on config.
      (mkIf dovecot24 {
        services.dovecot2.settings."protocol lmtp".mail_plugins.sieve = mkDefault true;
      })
      # Only where the dovecot module has mailPlugins (a module that dropped it loads plugins
      # through its settings, which the option's description points to).
      (mkIf (!dovecot24) {
        services.dovecot2 = lib.optionalAttrs (options.services.dovecot2 ? mailPlugins) {
          mailPlugins.perProtocol.lmtp.enable = [ "sieve" ];
        };
      })
    ]))
  ];
}
