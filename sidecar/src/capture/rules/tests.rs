use super::*;

fn spec() -> CaptureSpec {
    CaptureSpec {
        proxy_uid: 15000,
        outbound_port: 15001,
        inbound_port: 15006,
        inbound_ports: Vec::new(),
        exclude_outbound_ports: Vec::new(),
        exclude_outbound_cidrs: Vec::new(),
    }
}

#[test]
fn outbound_tcp_is_redirected_except_the_sidecar_loopback_and_dns() {
    let rules = restore_input(&spec(), Family::V4);
    assert_eq!(
        rules,
        "*nat\n\
         :AGENTNET_OUTPUT - [0:0]\n\
         -A OUTPUT -p tcp -j AGENTNET_OUTPUT\n\
         -A AGENTNET_OUTPUT -m owner --uid-owner 15000 -j RETURN\n\
         -A AGENTNET_OUTPUT -o lo -j RETURN\n\
         -A AGENTNET_OUTPUT -p tcp --dport 53 -j RETURN\n\
         -A AGENTNET_OUTPUT -p tcp -j REDIRECT --to-ports 15001\n\
         COMMIT\n"
    );
}

#[test]
fn exclusions_come_before_the_redirect_and_cidrs_go_to_their_family() {
    let mut s = spec();
    s.exclude_outbound_ports = vec![5432, 6379];
    s.exclude_outbound_cidrs = vec!["10.1.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()];
    let v4 = restore_input(&s, Family::V4);
    let v6 = restore_input(&s, Family::V6);
    let redirect = v4.find("REDIRECT").unwrap();
    for needle in [
        "--dport 5432 -j RETURN",
        "--dport 6379 -j RETURN",
        "-d 10.1.0.0/16 -j RETURN",
    ] {
        let at = v4
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in {v4}"));
        assert!(at < redirect, "{needle} after the redirect");
    }
    assert!(!v4.contains("fd00::/8"));
    assert!(v6.contains("-d fd00::/8 -j RETURN") && !v6.contains("10.1.0.0/16"));
}

#[test]
fn inbound_app_ports_go_to_the_inbound_listener() {
    let mut s = spec();
    s.inbound_ports = vec![8080];
    let rules = restore_input(&s, Family::V4);
    assert!(rules.contains("-A PREROUTING -p tcp -j AGENTNET_INBOUND\n"));
    assert!(
        rules.contains("-A AGENTNET_INBOUND -p tcp --dport 8080 -j REDIRECT --to-ports 15006\n")
    );
    assert!(!restore_input(&spec(), Family::V4).contains("PREROUTING"));
}

#[test]
fn an_installed_capture_is_recognized_in_iptables_save_output() {
    let saved = "*nat\n:PREROUTING ACCEPT [0:0]\n:AGENTNET_OUTPUT - [0:0]\n\
                 -A OUTPUT -p tcp -j AGENTNET_OUTPUT\n\
                 -A AGENTNET_OUTPUT -m owner --uid-owner 15000 -j RETURN\n\
                 -A AGENTNET_OUTPUT -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n";
    assert!(is_installed(saved, &spec()));
    assert!(!is_installed("*nat\nCOMMIT\n", &spec()));
    let mut other = spec();
    other.outbound_port = 15011;
    assert!(!is_installed(saved, &other));
}
