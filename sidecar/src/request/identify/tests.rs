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
    assert_eq!(denied, RouteError::OutboundDenied("api.example.org".into()));
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
