# nixos/modules/services/mail/dovecot.nix of nixos-26.05, as far as the home module, the hosts and
# the VM nodes set or read it: its types (typed sections in `settings`), its defaults (the package
# follows system.stateVersion) and its assertions, written for these tests.
{
  lib,
  config,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.services.dovecot2;
  pre24 = lib.versionOlder cfg.package.version "2.4";

  # `"<type> <name>" = { ... }` (or `<type> = { ... }`): a section whose type and name default to
  # the two words of its attribute name; inside it, settings and sections again.
  section = types.submodule (
    { name, ... }:
    let
      words = builtins.match "([^ ]+) (.+)" name;
    in
    {
      freeformType = types.attrsOf value;
      options._section = {
        type = mkOption {
          type = types.nonEmptyStr;
          default = if words == null then name else builtins.elemAt words 0;
        };
        name = mkOption {
          type = types.nullOr types.nonEmptyStr;
          default = if words == null then null else builtins.elemAt words 1;
        };
      };
    }
  );
  # `path` before `section`: a section would take a path literal for a module to import.
  primitive = types.oneOf [
    types.int
    types.str
    types.bool
    types.path
    section
  ];
  # Named, so that describing the type (in an error) does not recurse into sections.
  value =
    types.nullOr (
      types.oneOf [
        primitive
        (types.nonEmptyListOf primitive)
      ]
    )
    // {
      description = "Dovecot setting (value, list of values or section)";
    };
  # Dovecot 2.4's boolean lists (`{ plain = true; }`) or a list of names.
  booleanList = types.oneOf [
    (types.attrsOf types.bool)
    (types.listOf types.str)
  ];
  setting = (import ./options.nix { inherit lib; }).option;

  pluginLists = types.submodule {
    options.enable = setting (types.listOf types.str) [ ];
  };
  mailPluginsDefault = {
    globally.enable = [ ];
    perProtocol = { };
  };
in
{
  options.services.dovecot2 = {
    enable = lib.mkEnableOption "the dovecot 2.x POP3/IMAP server";
    package = mkOption {
      type = types.package;
      default = if lib.versionAtLeast config.system.stateVersion "26.05" then pkgs.dovecot else pkgs.dovecot_2_3;
    };
    settings = mkOption {
      type = types.submodule {
        freeformType = types.attrsOf value;
        options = {
          base_dir = setting types.path "/run/dovecot2";
          sendmail_path = setting types.path "/run/wrappers/bin/sendmail";
          mail_plugin_dir = setting types.path "/run/current-system/sw/lib/dovecot/modules";
          default_internal_user = setting types.str "dovecot2";
          default_internal_group = setting types.str "dovecot2";
          maildir_copy_with_hardlinks = setting types.bool true;
          auth_mechanisms = setting booleanList [
            "plain"
            "login"
          ];
          "passdb pam" = setting (types.nullOr section) null;
          "userdb passwd" = setting (types.nullOr section) null;
          # Dovecot 2.3 only.
          plugin = setting (types.nullOr section) null;
          # Dovecot 2.4 only.
          sieve_script_bin_path = setting (types.nullOr types.str) (
            if pre24 then null else "/tmp/dovecot-%{user|username|lower}"
          );
          sieve_pipe_bin_dir = setting (types.nullOr types.path) null;
          sieve_plugins = setting (types.nullOr booleanList) null;
          sieve_global_extensions = setting (types.nullOr booleanList) null;
        };
      };
      default = { };
    };
    mailPlugins = setting (types.submodule {
      options = {
        globally = setting pluginLists { enable = [ ]; };
        perProtocol = setting (types.attrsOf pluginLists) { };
      };
    }) mailPluginsDefault;
    sieve = {
      scripts = setting (types.attrsOf types.path) { };
      extensions = setting (types.listOf types.str) [ ];
      globalExtensions = setting (types.listOf types.str) [ ];
      pipeBins = setting (types.listOf types.path) [ ];
    };
    imapsieve.mailbox = setting (types.listOf (types.attrsOf types.anything)) [ ];
  };

  # Like nixpkgs, the versions and mail_uid/mail_gid are read as attributes of the freeform
  # settings: one that is not set at all stops the evaluation (attribute missing).
  config.assertions = lib.mkIf cfg.enable [
    {
      assertion = pre24 || cfg.settings.dovecot_config_version != null;
      message = "services.dovecot2.settings.dovecot_config_version: Dovecot 2.4 needs it set, e.g. to \"${cfg.package.version}\".";
    }
    {
      assertion = pre24 || cfg.settings.dovecot_storage_version != null;
      message = "services.dovecot2.settings.dovecot_storage_version: Dovecot 2.4 needs it set, to the oldest version the storage must stay readable by.";
    }
    {
      assertion = pre24 || cfg.imapsieve.mailbox == [ ];
      message = "services.dovecot2.imapsieve.mailbox: not used with Dovecot 2.4; use services.dovecot2.settings.";
    }
    {
      assertion = pre24 || cfg.sieve.scripts == { };
      message = "services.dovecot2.sieve.scripts: not valid with Dovecot 2.4; define a sieve_script section in services.dovecot2.settings.";
    }
    {
      assertion = pre24 || cfg.sieve.extensions == [ ];
      message = "services.dovecot2.sieve.extensions: not valid with Dovecot 2.4; set services.dovecot2.settings.sieve_extensions.";
    }
    {
      assertion = pre24 || cfg.sieve.globalExtensions == [ ];
      message = "services.dovecot2.sieve.globalExtensions: not valid with Dovecot 2.4; set services.dovecot2.settings.sieve_global_extensions.";
    }
    {
      assertion = pre24 || cfg.mailPlugins == mailPluginsDefault;
      message = "services.dovecot2.mailPlugins: not used with Dovecot 2.4; load plugins through services.dovecot2.settings.";
    }
    {
      assertion = cfg.sieve.scripts != { } -> (cfg.settings.mail_uid != null && cfg.settings.mail_gid != null);
      message = "services.dovecot2.sieve.scripts: needs services.dovecot2.settings.mail_uid and mail_gid.";
    }
    {
      assertion = !(config.systemd.services ? dovecot2);
      message = "systemd.services.dovecot2: the unit is dovecot.service; options on dovecot2 have no effect.";
    }
  ];
}
