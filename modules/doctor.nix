# home-mail-doctor on a gateway or a home: the plan this machine realized as
# /etc/home-mail/plan.json (lib.doctorPlan), the doctor on PATH, and optionally a timer.
# Imported by modules/wireguard-gateway.nix and modules/mail-home.nix; it does something only
# when one of them is enabled.
{
  config,
  lib,
  pkgs,
  options,
  ...
}:
let
  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkOption
    types
    ;
  homeMailLib = import ../lib;
  cfg = config.homeMail.doctor;
  root = "homeMail.doctor";
  role =
    if config.homeMail.home.enable or false then
      "home"
    else if config.homeMail.gateway.enable or false then
      "gateway"
    else
      null;
  mailserver = if options ? mailserver then config.mailserver else { enable = false; };
  doctorPlan = homeMailLib.doctorPlan {
    plan = config.homeMail.${role}.plan;
    inherit (cfg) mailName domains dkim dnsbl;
  };
in
{
  options.homeMail.doctor = {
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../pkgs/home-mail-doctor/package.nix { };
      defaultText = literalExpression "pkgs.callPackage ./pkgs/home-mail-doctor/package.nix { }";
      example = literalExpression "inputs.home-mail.packages.x86_64-linux.home-mail-doctor";
      description = "The home-mail-doctor package put on PATH.";
    };
    mailName = mkOption {
      type = types.nullOr types.str;
      default = if mailserver.enable then mailserver.fqdn else null;
      defaultText = literalExpression "config.mailserver.fqdn (simple-nixos-mailserver), else null";
      example = "mail.example.org";
      description = "The mail server's name: MX target, PTR of the forwarded addresses, certificate name.";
    };
    domains = mkOption {
      type = types.listOf types.str;
      default = if mailserver.enable then mailserver.domains else [ ];
      defaultText = literalExpression "config.mailserver.domains (simple-nixos-mailserver), else [ ]";
      example = [ "example.org" ];
      description = "The mail domains whose MX, SPF, DKIM and DMARC the doctor checks.";
    };
    dkim = mkOption {
      type = types.nullOr (
        types.submodule {
          options.selector = mkOption {
            type = types.str;
            example = "mail";
            description = "The DKIM selector.";
          };
          options.keyFile = mkOption {
            type = types.str;
            example = "/var/dkim/example.org.mail.key";
            description = "The private key home signs with (PEM).";
          };
        }
      );
      default = null;
      example = literalExpression ''{ selector = "mail"; keyFile = "/var/dkim/example.org.mail.key"; }'';
      description = "Home's DKIM key, so the doctor can check the record in DNS against it (null: skipped).";
    };
    dnsbl = mkOption {
      type = types.listOf types.str;
      default = homeMailLib.doctorDefaults.dnsbl;
      example = [ "zen.spamhaus.org" ];
      description = "DNS blocklists each forwarded address is looked up in.";
    };
    timer = {
      enable = mkEnableOption "a periodic home-mail-doctor run (unit home-mail-doctor.service; it fails when a check fails)";
      onCalendar = mkOption {
        type = types.str;
        default = "hourly";
        example = "*:0/15";
        description = "When the timer runs the doctor (systemd.time(7) calendar event).";
      };
    };
  };

  config = mkIf (role != null) {
    # Without mailName and domains the doctor stops at once and names these two options.
    environment.etc.${lib.removePrefix "/etc/" doctorPlan.file} = {
      text = builtins.toJSON doctorPlan;
      mode = "0600";
    };
    environment.systemPackages = [ cfg.package ];
    # Exit 2 (a failed check) fails the unit, so OnFailure= or any unit watcher sees it; exit 1
    # (warnings only) does not. The table goes to the journal.
    systemd.services.home-mail-doctor = mkIf cfg.timer.enable {
      description = "home-mail-doctor: hold this ${role} against its plan";
      # The queue check runs postqueue (home); ip, wg and nft come with the package, systemctl
      # with systemd (in every unit's path).
      path = lib.optional config.services.postfix.enable config.services.postfix.package;
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${cfg.package}/bin/home-mail-doctor";
        SuccessExitStatus = [ 1 ];
      };
    };
    systemd.timers.home-mail-doctor = mkIf cfg.timer.enable {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = cfg.timer.onCalendar;
        Persistent = true;
      };
    };
  };
}
