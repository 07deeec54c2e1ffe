use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn ip4(a: u8, b: u8, c: u8, d: u8) -> Host {
    Host::Ip(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
}

#[test]
fn every_numeric_ipv4_spelling_is_one_address() {
    for spelling in [
        "10.96.0.10",
        "0xa.0x60.0.0xa",
        "012.0140.0.012",
        "10.96.10",
        "10.6291466",
        "174063626",
        "0xA60000A",
        "10.96.0.10.",
    ] {
        assert_eq!(parse_host(spelling), Ok(ip4(10, 96, 0, 10)), "{spelling}");
    }
    assert_eq!(parse_host("127.1"), Ok(ip4(127, 0, 0, 1)));
    assert_eq!(parse_host("0"), Ok(ip4(0, 0, 0, 0)));
}

#[test]
fn numbers_that_are_no_address_are_refused_and_mixed_names_are_names() {
    for bad in [
        "256.0.0.1",
        "1.2.3.4.5",
        "4294967296",
        "1.2.3.256",
        "1.2.65536",
        "08.0.0.1",
    ] {
        assert_eq!(parse_host(bad), Err(AuthorityError::Number), "{bad}");
    }
    assert_eq!(parse_host("1.2.65535"), Ok(ip4(1, 2, 255, 255)));
    assert_eq!(
        parse_host("10.0.0.0x"),
        Ok(ip4(10, 0, 0, 0)),
        "0x alone is 0"
    );
    assert_eq!(parse_host("a.10"), Err(AuthorityError::Number));
    assert!(matches!(parse_host("10.0.0.a"), Ok(Host::Name(_))));
}

#[test]
fn names_are_lower_case_without_a_trailing_dot_and_odd_ones_are_refused() {
    assert_eq!(
        parse_host("Tools.NS.svc.cluster.local."),
        Ok(Host::Name("tools.ns.svc.cluster.local".into()))
    );
    for bad in [
        "",
        ".",
        "a..b",
        "to%6fls",
        "tööls",
        "a b",
        "a/b",
        "[::1",
        "fe80::1%eth0",
    ] {
        assert!(parse_host(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn authorities_drop_userinfo_and_keep_ports() {
    let a = parse("user:secret@Tools.ns:8080", 80).unwrap();
    assert_eq!(a.to_string(), "tools.ns:8080");
    assert_eq!(parse("tools.ns", 80).unwrap().port, 80);
    assert_eq!(
        parse("[::FFFF:10.0.0.1]:443", 80).unwrap().to_string(),
        "[::ffff:10.0.0.1]:443"
    );
    assert_eq!(parse("[0:0::1]", 80).unwrap().host.key(), "::1");
    for bad in [
        "tools:0",
        "tools:65536",
        "tools:+80",
        "tools:",
        "[::1]x",
        "[::1]:",
    ] {
        assert!(parse(bad, 80).is_err(), "{bad:?}");
    }
}
