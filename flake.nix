{
  description = "A mail server at home on public addresses forwarded from a vServer over WireGuard, without NAT";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    simple-nixos-mailserver = {
      url = "gitlab:simple-nixos-mailserver/nixos-mailserver/nixos-26.05";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      simple-nixos-mailserver,
    }:
    let
      inherit (nixpkgs) lib;
      homeMailLib = import ./lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = function: lib.genAttrs systems (system: function nixpkgs.legacyPackages.${system});
      # The platform of the example configurations in hosts/.
      exampleSystem = "x86_64-linux";

      exampleHost =
        modules:
        lib.nixosSystem {
          modules = [ { nixpkgs.hostPlatform = lib.mkDefault exampleSystem; } ] ++ modules;
        };

      # `true` when every check holds, otherwise an evaluation error listing the failing ones.
      allHold =
        what: checks:
        let
          failing = lib.filter (check: !check.assertion) checks;
        in
        failing == [ ] || throw "${what}:\n${lib.concatMapStringsSep "\n" (check: check.message) failing}";

      # The lab (pkgs/mail-lab), built from its pyproject.toml; its programs find the daemons the
      # lab runs on PATH.
      mailLab =
        pkgs:
        let
          python = pkgs.python3Packages;
          pyproject = builtins.fromTOML (builtins.readFile ./pkgs/mail-lab/pyproject.toml);
          # "pyroute2>=0.7" -> python3Packages.pyroute2 (PyPI names, normalized as nixpkgs names them).
          requirement =
            specification:
            python.${
              lib.toLower (
                lib.replaceStrings [ "_" "." ] [ "-" "-" ] (
                  builtins.head (builtins.match "[[:space:]]*([A-Za-z0-9._-]+).*" specification)
                )
              )
            };
          labTools = with pkgs; [
            iproute2
            util-linux
            procps
            nftables
            wireguard-go
            wireguard-tools
            postfix
            # The lab writes Dovecot 2.3 and knot-resolver 5 configuration (Debian 12's versions);
            # pkgs.dovecot is 2.4 and pkgs.knot-resolver an alias that warns.
            dovecot_2_3
            rspamd
            redis
            knot-resolver_5
            knot-dns
            openssl
            curl
            pebble
            lego
          ];
        in
        python.buildPythonApplication {
          pname = pyproject.project.name;
          version = pyproject.project.version or "0";
          pyproject = true;
          src = ./pkgs/mail-lab;
          build-system = map requirement pyproject.build-system.requires;
          dependencies = map requirement (pyproject.project.dependencies or [ ]);
          makeWrapperArgs = [
            "--prefix"
            "PATH"
            ":"
            (lib.makeBinPath labTools)
          ];
          meta = {
            description = "The home-mail lab: the test world in network namespaces, with real daemons";
            mainProgram = "mail-lab";
          };
        };

      # Evaluations that need no VM: the test world's plans (strict, and the two sides agree), and
      # the example hosts agree with each other.
      cheapChecks =
        pkgs:
        let
          topology = import ./tests/topology.nix { };
          exampleIntents = {
            gateway = self.nixosConfigurations.gateway.config.homeMail.gateway.intent;
            home = self.nixosConfigurations.home.config.homeMail.home.intent;
            home-plain = self.nixosConfigurations.home-plain.config.homeMail.home.intent;
          };
        in
        {
          plans =
            assert allHold "the test world's gateway and home disagree" (
              homeMailLib.pairChecks {
                gateway = topology.gatewayIntent;
                home = topology.homeIntent;
              }
            );
            pkgs.writeText "home-mail-test-world-plans.json" (builtins.toJSON topology.plans);
          example-hosts =
            assert allHold "hosts/gateway and hosts/home disagree" (
              homeMailLib.pairChecks { inherit (exampleIntents) gateway home; }
            );
            assert allHold "hosts/gateway and hosts/home-plain disagree" (
              homeMailLib.pairChecks {
                inherit (exampleIntents) gateway;
                home = exampleIntents.home-plain;
              }
            );
            pkgs.writeText "home-mail-example-intents.json" (builtins.toJSON exampleIntents);
          mail-lab = self.packages.${pkgs.stdenv.hostPlatform.system}.mail-lab;
        }
        // lib.optionalAttrs (pkgs.stdenv.hostPlatform.system == exampleSystem) {
          example-gateway = self.nixosConfigurations.gateway.config.system.build.toplevel;
          example-home = self.nixosConfigurations.home.config.system.build.toplevel;
          example-home-plain = self.nixosConfigurations.home-plain.config.system.build.toplevel;
        };
    in
    {
      lib = homeMailLib;

      nixosModules = {
        netns = ./modules/netns.nix;
        wireguard-gateway = ./modules/wireguard-gateway.nix;
        mail-home = ./modules/mail-home;
        default = {
          imports = [
            ./modules/wireguard-gateway.nix
            ./modules/mail-home
          ];
        };
      };

      nixosConfigurations = {
        gateway = exampleHost [
          self.nixosModules.wireguard-gateway
          ./hosts/gateway
        ];
        home = exampleHost [
          simple-nixos-mailserver.nixosModules.default
          self.nixosModules.mail-home
          ./hosts/home
        ];
        # The same home with NixOS' own postfix, dovecot, rspamd and knot-resolver.
        home-plain = exampleHost [
          self.nixosModules.mail-home
          ./hosts/home-plain
        ];
      };

      packages = forAllSystems (pkgs: {
        mail-lab = mailLab pkgs;
        home-mail-doctor = pkgs.callPackage ./pkgs/home-mail-doctor/package.nix { };
        mail-test-agent = pkgs.callPackage ./pkgs/mail-test-agent/package.nix { };
      });

      # `nix run .#home-mail-doctor` (as root, on a gateway or home with /etc/home-mail/plan.json).
      apps = forAllSystems (pkgs: {
        home-mail-doctor = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.home-mail-doctor}/bin/home-mail-doctor";
          meta.description = "Hold this gateway or home against its home-mail plan";
        };
      });

      checks = forAllSystems (
        pkgs: import ./tests/vm { inherit pkgs self simple-nixos-mailserver; } // cheapChecks pkgs
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nixfmt
            pkgs.nixfmt-tree
            pkgs.ruff
            (pkgs.python3.withPackages (python: [
              python.pytest
              python.pytest-timeout
              python.mypy
              python.pyflakes
              python.pyroute2
              python.dnspython
              python.cryptography
            ]))
            pkgs.wireguard-tools
            pkgs.nftables
            pkgs.iproute2
          ];
        };
      });
    };
}
