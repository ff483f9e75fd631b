# shellcheck shell=bash
# More NAT behaviours for the namespace lab (sourced after lab.sh), for the RFC 4380 §5.2.1
# NAT-type tests (S10 in docs/conformance.md). lab.sh's lab_nat already has "masquerade"
# (port-restricted cone), "symmetric" (new random port per destination) and a one-port
# "fullcone"; this adds, in RFC 3489 / RFC 4787 terms:
#   fullcone        endpoint-independent mapping and filtering, for a range of client ports
#   addrrestricted  endpoint-independent mapping, address-dependent filtering: inbound to a
#                   mapping only from IPv4 addresses the client has sent to from it, any port
#   blocked         no UDP at all (a firewall that drops it), everything else masqueraded
#
#   source tests/integration/lab/lab.sh
#   source tests/integration/lab/nat_lab.sh
#   natlab_client 3 addrrestricted 40000 40003   # nat3 (wan 203.0.113.13) + cli3 (10.0.3.2)
#
# Mapped ports equal the client's ports (fixed-port SNAT, one rule per port of the range), so
# a client must bind inside PORT_LO..PORT_HI for fullcone and addrrestricted.

if [[ -n ${NAT_LAB_SH_LOADED:-} ]]; then
  return 0
fi
NAT_LAB_SH_LOADED=1

# natlab_nat NS TYPE WAN_IF LAN_IF CLIENT_IP PORT_LO PORT_HI: nftables NAT inside NS.
# TYPE: fullcone | addrrestricted | blocked. As with lab_nat, traffic from the WAN that no rule
# admits is dropped, and so is unsolicited traffic to the box itself (see lab_nat's comment).
natlab_nat() {
  local ns=$1 type=$2 wan=$3 lan=$4 cip=$5 lo=$6 hi=$7 wanip p
  wanip=$(lab_ipv4_of "$ns" "$wan")
  [[ -n $wanip ]] || lab_die "natlab_nat: $ns/$wan has no IPv4 address"
  ((lo > 0 && hi >= lo && hi - lo < 64)) || lab_die "natlab_nat: bad port range $lo-$hi"
  lab_sysctl "$ns" net.ipv4.ip_forward=1
  local pre="" post="" fwd_out="" fwd_in=""
  for ((p = lo; p <= hi; p++)); do
    post+="oifname \"$wan\" ip saddr $cip udp sport $p snat to $wanip:$p
    "
    pre+="iifname \"$wan\" udp dport $p dnat to $cip:$p
    "
  done
  post+="oifname \"$wan\" masquerade"
  case $type in
    fullcone)
      # Anyone may use an existing mapping (it exists as the DNAT rule: a full-cone NAT).
      fwd_in="iifname \"$wan\" ct status dnat accept"
      ;;
    addrrestricted)
      # A mapping admits a remote IPv4 once the client has sent to it from that mapping, from
      # any remote port. The set is keyed by (remote address, mapped port): with fixed-port SNAT
      # the client's port is the mapped port, before SNAT (outbound) and after DNAT (inbound).
      fwd_out="iifname \"$lan\" oifname \"$wan\" ip saddr $cip udp sport $lo-$hi \
update @contacted { ip daddr . udp sport }"
      fwd_in="iifname \"$wan\" ct status dnat ip saddr . udp dport @contacted accept"
      ;;
    blocked)
      pre=""
      fwd_out="meta l4proto udp drop"
      ;;
    *) lab_die "natlab_nat: unknown type $type" ;;
  esac
  cat >"$LAB_DIR/nat-$ns.nft" <<EOF
table ip natlab {
  set contacted {
    type ipv4_addr . inet_service
    flags dynamic, timeout
    timeout 300s
    size 1024
  }
  chain nat_pre {
    type nat hook prerouting priority dstnat; policy accept;
    $pre
  }
  chain nat_post {
    type nat hook postrouting priority srcnat; policy accept;
    $post
  }
  chain filter_forward {
    type filter hook forward priority filter; policy accept;
    $fwd_out
    iifname "$wan" ct state established,related accept
    $fwd_in
    iifname "$wan" drop
  }
  chain filter_input {
    type filter hook input priority filter; policy accept;
    iifname "$wan" ct state established,related accept
    iifname "$wan" drop
  }
}
EOF
  lab_run ip netns exec "$(lab_nsname "$ns")" nft -f "$LAB_DIR/nat-$ns.nft"
}

# natlab_client N TYPE [PORT_LO PORT_HI]: NAT box natN (wan 203.0.113.1N on segment "wan", lan
# 10.0.N.1) and client cliN (10.0.N.2) behind it, as lab_std_client does. TYPE is one of lab_nat's
# (masquerade, symmetric) or natlab_nat's (fullcone, addrrestricted, blocked; these need the
# client's port range).
natlab_client() {
  local n=$1 type=$2 lo=${3:-} hi=${4:-}
  lab_ns "nat$n"
  lab_attach "nat$n" wan wan "203.0.113.1$n/24"
  lab_ns "cli$n"
  lab_link "nat$n" lan "cli$n" eth0
  lab_addr "nat$n" lan "10.0.$n.1/24"
  lab_addr "cli$n" eth0 "10.0.$n.2/24"
  lab_route "cli$n" default via "10.0.$n.1"
  case $type in
    masquerade | symmetric) lab_nat "nat$n" "$type" wan ;;
    *) natlab_nat "nat$n" "$type" wan lan "10.0.$n.2" "$lo" "$hi" ;;
  esac
}
