# nftables ruleset text (nft 1.0.6 syntax) for the gateway and for inside the home namespace.
# A table is { family; name; content; ruleset; }: `content` is the table body as the NixOS option
# networking.nftables.tables.<name>.content takes it, `ruleset` the whole `nft -f` file.
{ ... }:
let
  inherit (builtins) concatStringsSep filter map;

  table =
    {
      family,
      name,
      content,
    }:
    {
      inherit family name content;
      ruleset = "table ${family} ${name} {\n${content}}\n";
    };

  # Lines indented by `depth` tabs, each ending in a newline; null lines are left out.
  block =
    depth: lines:
    concatStringsSep "" (
      map (line: "${builtins.substring 0 depth "\t\t\t\t"}${line}\n") (filter (line: line != null) lines)
    );

  chain = name: lines: block 1 [ "chain ${name} {" ] + block 2 lines + block 1 [ "}" ];

  # An anonymous set literal: { 25, 80 }.
  setOf = items: "{ ${concatStringsSep ", " (map toString items)} }";

  # A named set of addresses; an empty set has no elements line (nft rejects `elements = { }`).
  addressSet =
    name: type: addresses:
    block 1 [ "set ${name} {" ]
    + block 2 (
      [ "type ${type}" ] ++ (if addresses == [ ] then [ ] else [ "elements = ${setOf addresses}" ])
    )
    + block 1 [ "}" ];

  # nft quotes interface names like JSON strings; the checks allow only [A-Za-z0-9_.-] in them.
  # (toJSON also keeps a bad, non-string value from throwing: plans never throw by themselves.)
  quoted = builtins.toJSON;

  # `<prefix> tcp dport { ... } <verdict>` for each protocol that has ports.
  portRules =
    prefix: ports: verdict:
    map (protocol: "${prefix}${protocol} dport ${setOf ports.${protocol}} ${verdict}") (
      filter (protocol: ports.${protocol} != [ ]) [
        "tcp"
        "udp"
      ]
    );

  icmpTypes = [
    "echo-request"
    "destination-unreachable"
    "time-exceeded"
    "parameter-problem"
  ];
  icmpv6Types = [
    "echo-request"
    "destination-unreachable"
    "packet-too-big"
    "time-exceeded"
    "parameter-problem"
  ];
in
{
  inherit table;

  # The gateway's forward policy. Only packets entering or leaving by the WireGuard interface are
  # judged; everything else is accepted here and left to the rest of the system's firewall.
  gateway =
    {
      wireguardInterface,
      mtu,
      mssClamp,
      forwarded, # { ipv4 = [ addresses ]; ipv6 = [ addresses ]; }
      ports, # { tcp = [ ports ]; udp = [ ports ]; }
    }:
    let
      wg = quoted wireguardInterface;
      # Inbound SYNs are clamped to the tunnel's route MTU; SYNs (and SYN-ACKs) from home leave by
      # the 1500-byte uplink, so `rt mtu` does not cover them: clamp them to what fits the tunnel.
      mssIPv4 = mtu - 40;
      mssIPv6 = mtu - 60;
    in
    table {
      family = "inet";
      name = "home_mail_gateway";
      content =
        addressSet "forwarded_ipv4" "ipv4_addr" forwarded.ipv4
        + addressSet "forwarded_ipv6" "ipv6_addr" forwarded.ipv6
        + (
          if mssClamp then
            chain "mss" [
              "type filter hook forward priority mangle; policy accept;"
              "oifname ${wg} tcp flags syn tcp option maxseg size set rt mtu"
              "iifname ${wg} meta nfproto ipv4 tcp flags syn tcp option maxseg size > ${toString mssIPv4} tcp option maxseg size set ${toString mssIPv4}"
              "iifname ${wg} meta nfproto ipv6 tcp flags syn tcp option maxseg size > ${toString mssIPv6} tcp option maxseg size set ${toString mssIPv6}"
            ]
          else
            ""
        )
        + chain "forward" (
          [
            "type filter hook forward priority filter; policy accept;"
            "iifname != ${wg} oifname != ${wg} accept"
            "ct state invalid drop"
            "ct state established,related accept"
            # A home may only send from its forwarded addresses. Which home owns which address is
            # enforced by WireGuard itself: a peer's packets must come from its allowedIPs. To
            # another home behind the same tunnel it is the internet: the port rules below judge it.
            "iifname ${wg} oifname != ${wg} ip saddr @forwarded_ipv4 accept"
            "iifname ${wg} oifname != ${wg} ip6 saddr @forwarded_ipv6 accept"
          ]
          ++ portRules "oifname ${wg} ip daddr @forwarded_ipv4 " ports "accept"
          ++ portRules "oifname ${wg} ip6 daddr @forwarded_ipv6 " ports "accept"
          ++ [
            "oifname ${wg} ip daddr @forwarded_ipv4 icmp type ${setOf icmpTypes} accept"
            "oifname ${wg} ip6 daddr @forwarded_ipv6 icmpv6 type ${setOf icmpv6Types} accept"
            "counter drop"
          ]
        );
    };

  # Inside the home namespace: only the open ports, ICMP and replies come in; nothing is routed.
  homeNamespace =
    { ports }:
    table {
      family = "inet";
      name = "home_mail_netns";
      content =
        chain "input" (
          [
            "type filter hook input priority filter; policy drop;"
            "iifname \"lo\" accept"
            "ct state invalid drop"
            "ct state established,related accept"
            "meta l4proto { icmp, ipv6-icmp } accept"
          ]
          ++ portRules "" ports "accept"
          ++ [ "counter drop" ]
        )
        + chain "forward" [ "type filter hook forward priority filter; policy drop;" ]
        + chain "output" [ "type filter hook output priority filter; policy accept;" ];
    };
}
