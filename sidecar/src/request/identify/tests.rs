use super::*;
use crate::request::destination::Target;
use crate::testing::{BACKENDS, index};

fn routing(default: OutboundDefault) -> Routing {
    Routing {
        caller_namespace: "tools".into(),
        outbound_default: default,
        excluded_ports: vec![5432],
    }
}

fn absolute(authority: &str) -> Target {
    Target::Absolute {
        authority: authority.into(),
        path: "/mcp".into(),
    }
}

#[test]
fn resolves_service_names_in_every_form_and_cluster_ips() {
    let index = index(BACKENDS);
    for authority in [
        "mcp:8080",
        "mcp.tools:8080",
        "mcp.tools.svc:8080",
        "mcp.tools.svc.cluster.local:8080",
        "10.0.0.9:8080",
        "MCP.Tools:8080",
    ] {
        let Route::Backend(r) = route(
            &absolute(authority),
            &index,
            &routing(OutboundDefault::Deny),
        )
        .unwrap() else {
            panic!("{authority}")
        };
        assert_eq!(
            (r.backend.id().to_string(), r.path.as_str()),
            ("tools/mcp".to_owned(), "/mcp"),
            "{authority}"
        );
    }
}

#[test]
fn routes_backend_references_to_the_backend_path() {
    let index = index(BACKENDS);
    let target = Target::Named {
        namespace: "tools".into(),
        name: "remote".into(),
        rest: "".into(),
    };
    let Route::Backend(r) = route(&target, &index, &routing(OutboundDefault::Deny)).unwrap() else {
        panic!()
    };
    assert_eq!(
        (r.authority.as_str(), r.path.as_str()),
        ("example.com:443", "/mcp")
    );
    let missing = Target::Named {
        namespace: "tools".into(),
        name: "nope".into(),
        rest: "/".into(),
    };
    assert_eq!(
        route(&missing, &index, &routing(OutboundDefault::Allow)).unwrap_err(),
        RouteError::UnknownBackend("tools/nope".into())
    );
}

#[test]
fn other_destinations_follow_the_outbound_default() {
    let index = index(BACKENDS);
    let allowed = route(
        &absolute("api.example.org:80"),
        &index,
        &routing(OutboundDefault::Allow),
    )
    .unwrap();
    assert!(matches!(
        allowed,
        Route::Passthrough(PassthroughRoute {
            why: Passthrough::OutboundAllow,
            ..
        })
    ));
    let denied = route(
        &absolute("api.example.org"),
        &index,
        &routing(OutboundDefault::Deny),
    )
    .unwrap_err();
    assert_eq!(
        denied,
        RouteError::OutboundDenied("api.example.org:80".into())
    );
    // The port is part of the destination: mcp on another port is not the backend.
    assert!(matches!(
        route(
            &absolute("mcp:9999"),
            &index,
            &routing(OutboundDefault::Deny)
        ),
        Err(RouteError::OutboundDenied(_))
    ));
}

#[test]
fn excluded_ports_pass_through_even_to_backends() {
    let mut index_yaml = BACKENDS.replace("port: 8080", "port: 5432");
    index_yaml.push('\n');
    let index = index(&index_yaml);
    let r = route(
        &Target::Connect {
            authority: "mcp:5432".into(),
        },
        &index,
        &routing(OutboundDefault::Deny),
    )
    .unwrap();
    assert!(matches!(
        r,
        Route::Passthrough(PassthroughRoute {
            why: Passthrough::ExcludedPort,
            ..
        })
    ));
}

fn backend_of(r: Result<Route<'_>, RouteError>) -> String {
    match r {
        Ok(Route::Backend(t)) => t.backend.id().to_string(),
        other => panic!("not a backend: {other:?}"),
    }
}

#[test]
fn every_spelling_of_a_backend_address_is_that_backend() {
    let index = index(BACKENDS);
    let routing = routing(OutboundDefault::Allow);
    for authority in [
        "10.0.0.9:8080",
        "0xa.0.0.9:8080",
        "012.0.0.011:8080",
        "10.9:8080",
        "167772169:8080",
        "user:secret@mcp.tools:8080",
        "MCP.TOOLS.SVC.CLUSTER.LOCAL.:8080",
        // An endpoint of the Service, at its target port, is the backend too.
        "10.1.0.2:9000",
        "0x0a010002:9000",
    ] {
        assert_eq!(
            backend_of(route(&absolute(authority), &index, &routing)),
            "tools/mcp",
            "{authority}"
        );
    }
    let Ok(Route::Backend(t)) = route(&absolute("user:secret@mcp.tools:8080"), &index, &routing)
    else {
        panic!()
    };
    assert_eq!(t.authority, "mcp.tools:8080", "userinfo never travels on");
    assert!(matches!(
        route(&absolute("bad host:8080"), &index, &routing),
        Err(RouteError::Authority(_))
    ));
}

#[test]
fn captured_connections_are_routed_by_their_original_destination() {
    let index = index(BACKENDS);
    let routing = routing(OutboundDefault::Deny);
    let captured = |to: &str, host: Option<&str>| Target::Captured {
        to: to.parse().unwrap(),
        host: host.map(str::to_owned),
        path: "/mcp".into(),
    };
    // By cluster IP or endpoint, whatever (or no) Host the request names.
    for (to, host) in [
        ("10.0.0.9:8080", Some("mcp.tools:8080")),
        ("10.0.0.9:8080", None),
        ("10.1.0.1:9000", Some("whatever.example")),
    ] {
        assert_eq!(
            backend_of(route(&captured(to, host), &index, &routing)),
            "tools/mcp"
        );
    }
    // A Host naming another backend than the connection's destination is ambiguous.
    assert!(matches!(
        route(
            &captured("10.0.0.9:8080", Some("example.com:443")),
            &index,
            &routing
        ),
        Err(RouteError::HostMismatch { .. })
    ));
    // An external backend is named by Host on an address nobody owns (the sidecar sends
    // it to that host itself).
    assert_eq!(
        backend_of(route(
            &captured("93.184.216.34:443", Some("example.com")),
            &index,
            &routing
        )),
        "tools/remote"
    );
    // Anything else follows the outbound default, and keeps its Host.
    assert_eq!(
        route(
            &captured("93.184.216.34:80", Some("example.org")),
            &index,
            &routing
        )
        .unwrap_err(),
        RouteError::OutboundDenied("93.184.216.34:80".into())
    );
    let allow = self::routing(OutboundDefault::Allow);
    let Ok(Route::Passthrough(pass)) = route(&captured("93.184.216.34:80", None), &index, &allow)
    else {
        panic!()
    };
    assert!(pass.captured && pass.authority == "93.184.216.34:80");
}

#[test]
fn an_address_two_backends_own_is_refused() {
    let shared = format!(
        "{BACKENDS}---\n{}",
        r#"apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {name: other, namespace: tools}
spec: {mcp: {serviceName: other, port: 8080}}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: tools}
spec: {clusterIP: 10.0.0.10, ports: [{port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: other-1, namespace: tools, labels: {kubernetes.io/service-name: other}}
addressType: IPv4
endpoints: [{addresses: [10.1.0.1]}]
ports: [{port: 9000}]
"#
    );
    let index = index(&shared);
    let r = route(
        &absolute("10.1.0.1:9000"),
        &index,
        &routing(OutboundDefault::Allow),
    );
    assert_eq!(
        r.unwrap_err(),
        RouteError::Ambiguous("10.1.0.1:9000".into())
    );
    assert_eq!(
        backend_of(route(
            &absolute("10.0.0.10:8080"),
            &index,
            &routing(OutboundDefault::Allow)
        )),
        "tools/other"
    );
}
