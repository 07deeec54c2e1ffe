use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource, EnvVarSource,
};

use super::*;

fn var(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn container(env: Vec<EnvVar>) -> Container {
    Container {
        name: "app".into(),
        env: Some(env),
        ..Container::default()
    }
}

fn value_of<'a>(env: &'a [EnvVar], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|v| v.name == name)
        .and_then(|v| v.value.as_deref())
}

fn base() -> Vec<String> {
    base_no_proxy("cluster.local")
}

#[test]
fn a_container_without_env_gets_all_proxy_variables() {
    let env = with_proxy_env(&Container::default(), &base());
    let names: Vec<&str> = env.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "NO_PROXY",
            "no_proxy"
        ]
    );
    assert_eq!(value_of(&env, "HTTP_PROXY"), Some("http://127.0.0.1:15001"));
    assert_eq!(
        value_of(&env, "NO_PROXY"),
        Some(
            "localhost,127.0.0.1,::1,kubernetes,kubernetes.default,kubernetes.default.svc,kubernetes.default.svc.cluster.local,$(KUBERNETES_SERVICE_HOST)"
        )
    );
    assert_eq!(value_of(&env, "no_proxy"), value_of(&env, "NO_PROXY"));
}

#[test]
fn user_no_proxy_is_merged_not_clobbered() {
    let c = container(vec![
        var("NO_PROXY", "internal.example.com, 10.0.0.0/8"),
        var("no_proxy", "lower.example"),
        var("MODEL", "x"),
    ]);
    let env = with_proxy_env(&c, &base());
    let no_proxy = value_of(&env, "NO_PROXY").unwrap();
    assert!(no_proxy.starts_with("localhost,127.0.0.1,"), "{no_proxy}");
    assert!(
        no_proxy.ends_with(",internal.example.com,10.0.0.0/8,lower.example"),
        "{no_proxy}"
    );
    assert_eq!(value_of(&env, "no_proxy"), Some(no_proxy));
    assert_eq!(
        env.iter().filter(|v| v.name == "NO_PROXY").count(),
        1,
        "no duplicate entries"
    );
    assert_eq!(
        env[0],
        var("MODEL", "x"),
        "other variables keep their place"
    );
}

#[test]
fn user_proxy_settings_are_replaced_by_the_sidecar() {
    let c = container(vec![
        var("HTTP_PROXY", "http://corp:3128"),
        var("https_proxy", "http://corp:3128"),
    ]);
    let env = with_proxy_env(&c, &base());
    assert_eq!(value_of(&env, "HTTP_PROXY"), Some("http://127.0.0.1:15001"));
    assert_eq!(
        value_of(&env, "https_proxy"),
        Some("http://127.0.0.1:15001")
    );
    assert_eq!(env.len(), 6);
}

#[test]
fn no_proxy_from_a_config_map_is_kept_and_referenced() {
    let from_cm = EnvVar {
        name: "NO_PROXY".into(),
        value: None,
        value_from: Some(EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector {
                name: "proxy".into(),
                key: "no_proxy".into(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
    };
    let env = with_proxy_env(&container(vec![from_cm.clone()]), &base());
    assert_eq!(
        env[0],
        EnvVar {
            name: "AGENTNET_USER_NO_PROXY".into(),
            ..from_cm
        }
    );
    assert!(
        value_of(&env, "NO_PROXY")
            .unwrap()
            .ends_with(",$(AGENTNET_USER_NO_PROXY)")
    );
}

#[test]
fn env_from_sources_are_referenced_so_their_no_proxy_survives() {
    let c = Container {
        name: "app".into(),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: "settings".into(),
                optional: None,
            }),
            ..EnvFromSource::default()
        }]),
        ..Container::default()
    };
    let env = with_proxy_env(&c, &base());
    assert!(
        value_of(&env, "NO_PROXY")
            .unwrap()
            .ends_with(",$(NO_PROXY),$(no_proxy)")
    );
}

#[test]
fn annotated_hosts_are_deduplicated_with_the_users() {
    let mut hosts = base();
    hosts.push("db.internal".into());
    let env = with_proxy_env(
        &container(vec![var("NO_PROXY", "db.internal,localhost")]),
        &hosts,
    );
    let no_proxy = value_of(&env, "NO_PROXY").unwrap();
    assert_eq!(no_proxy.matches("db.internal").count(), 1, "{no_proxy}");
    assert_eq!(no_proxy.matches("localhost").count(), 1, "{no_proxy}");
}
