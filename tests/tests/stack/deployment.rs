//! `deployment.*`: the HTTP layer, GraphQL limits, cookies, the token key.

use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenService};
use rail_graphql_security::config::Profile;
use rail_graphql_security::config::standard::SameSite;
use rail_graphql_security::context::Principal;
use rail_graphql_security::dashboard;
use secrecy::SecretString;

use super::harness::{Answer, App, build_error, client, load, serve_with, start, start_with};

async fn hello(app: &App) -> Answer {
    app.gql("{ hello }").await
}

pub(crate) async fn https_redirect() {
    let app = start(&[("deployment.https_redirect", "true")]).await;
    let answer = app.send(client().get(format!("{}/graphql?x=1", app.base))).await;
    assert_eq!(answer.status, 308);
    let host = app.base.trim_start_matches("http://");
    assert_eq!(answer.header("location"), Some(format!("https://{host}/graphql?x=1").as_str()));
    // A client cannot claim https itself; only a trusted proxy can.
    let spoofed = app.send(client().get(format!("{}/graphql", app.base)).header("x-forwarded-proto", "https")).await;
    assert_eq!(spoofed.status, 308);
    let proxied = start(&[
        ("deployment.https_redirect", "true"),
        ("deployment.behind_proxy", "true"),
        ("deployment.trusted_proxies", "127.0.0.1"),
    ])
    .await;
    let answer = proxied
        .send(
            client()
                .post(format!("{}/graphql", proxied.base))
                .header("x-forwarded-proto", "https")
                .json(&serde_json::json!({"query": "{ hello }"})),
        )
        .await;
    assert_eq!(answer.body["data"]["hello"], "world");
    // A server that terminates TLS itself says so on the builder.
    let tls =
        start_with(Profile::Development, &[("deployment.https_redirect", "true")], |b| b.served_over_tls(true)).await;
    assert_eq!(hello(&tls).await.status, 200);
    assert_eq!(hello(&start(&[]).await).await.status, 200, "off in development");
}

pub(crate) async fn hsts_seconds() {
    let answer = hello(&start(&[("deployment.hsts_seconds", "600")]).await).await;
    assert_eq!(answer.header("strict-transport-security"), Some("max-age=600"));
    let none = hello(&start(&[("deployment.hsts_seconds", "0")]).await).await;
    assert_eq!(none.header("strict-transport-security"), None);
}

pub(crate) async fn hsts_include_subdomains() {
    let answer =
        hello(&start(&[("deployment.hsts_seconds", "600"), ("deployment.hsts_include_subdomains", "true")]).await)
            .await;
    assert_eq!(answer.header("strict-transport-security"), Some("max-age=600; includeSubDomains"));
}

pub(crate) async fn hsts_preload() {
    let answer = hello(
        &start(&[
            ("deployment.hsts_seconds", "63072000"),
            ("deployment.hsts_include_subdomains", "true"),
            ("deployment.hsts_preload", "true"),
        ])
        .await,
    )
    .await;
    assert_eq!(answer.header("strict-transport-security"), Some("max-age=63072000; includeSubDomains; preload"));
}

struct Root;

#[async_trait::async_trait]
impl dashboard::DashboardAuthenticator for Root {
    async fn authenticate(&self, username: String, _password: SecretString) -> Option<Principal> {
        (username == "root").then(|| Principal::new(1, "root").with_roles(["admin"]))
    }
}

/// Signs in to a dashboard built from the stack and returns its session cookie.
async fn dashboard_cookie(over: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = integration_tests::TestDb::new(integration_tests::Backend::Sqlite).await.unwrap();
    let config = load(&Profile::Development, dir.path(), over).unwrap();
    let security = rail_graphql_security::stack::Security::builder(&config, Profile::Development, db.db.clone())
        .build()
        .await
        .unwrap();
    // The cookie attributes are under test here, not the second factor (dashboard_http covers it).
    let board = security.dashboard(Root).mfa_required_roles(Vec::<String>::new()).build().unwrap();
    let board = dashboard::router_at("/security", board).unwrap();
    let app = serve_with(security, db, dir, board).await;
    let response = client()
        .post(format!("{}/security/login", app.base))
        .header("origin", &app.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=root&password=pw")
        .send()
        .await
        .unwrap();
    response.headers().get("set-cookie").expect("a session cookie").to_str().unwrap().to_owned()
}

pub(crate) async fn cookie_secure() {
    let secure = dashboard_cookie(&[("deployment.cookie_secure", "true")]).await;
    assert!(secure.ends_with("; Secure"), "{secure}");
    let plain = dashboard_cookie(&[("deployment.cookie_secure", "false")]).await;
    assert!(!plain.contains("Secure"), "{plain}");
}

pub(crate) async fn cookie_http_only() {
    assert!(dashboard_cookie(&[]).await.contains("; HttpOnly"));
    let readable = dashboard_cookie(&[("deployment.cookie_http_only", "false")]).await;
    assert!(!readable.contains("HttpOnly"), "{readable}");
}

pub(crate) async fn cookie_same_site() {
    assert!(dashboard_cookie(&[]).await.contains("; SameSite=Lax"), "lax by default");
    assert!(dashboard_cookie(&[("deployment.cookie_same_site", "strict")]).await.contains("; SameSite=Strict"));
    let app = start(&[("deployment.cookie_same_site", "none")]).await;
    assert_eq!(app.security.cookie_policy().same_site, SameSite::None);
}

pub(crate) async fn allowed_hosts() {
    let app = start(&[("deployment.allowed_hosts", "localhost, .example.com")]).await;
    let port = app.base.rsplit(':').next().unwrap();
    let with_host = |host: String| {
        client()
            .post(format!("{}/graphql", app.base))
            .header("host", host)
            .json(&serde_json::json!({"query": "{ hello }"}))
    };
    assert_eq!(app.send(with_host(format!("localhost:{port}"))).await.status, 200);
    assert_eq!(app.send(with_host("api.example.com".to_owned())).await.status, 200);
    let evil = app.send(with_host("evil.test".to_owned())).await;
    assert_eq!((evil.status, evil.code()), (400, Some("INVALID_HOST")));
    // 127.0.0.1 is not listed here.
    assert_eq!(hello(&app).await.status, 400);
    // Empty: any host outside production, refused in production.
    let any = start(&[("deployment.allowed_hosts", "")]).await;
    let anywhere = client().post(format!("{}/graphql", any.base)).header("host", "evil.test");
    assert_eq!(any.send(anywhere.json(&serde_json::json!({"query": "{ hello }"}))).await.status, 200);
    let error = build_error(Profile::Production, &[("deployment.allowed_hosts", "")]).await;
    assert!(error.starts_with("deployment.allowed_hosts is empty"), "{error}");
}

async fn preflight(app: &App, origin: &str) -> Answer {
    app.send(
        client()
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type"),
    )
    .await
}

pub(crate) async fn allowed_origins() {
    let app = start(&[("deployment.allowed_origins", "https://app.example.com")]).await;
    let ok = preflight(&app, "https://app.example.com").await;
    assert_eq!(ok.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert!(ok.header("access-control-allow-headers").unwrap().contains("authorization"));
    let other = preflight(&app, "https://evil.example").await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    let none = start(&[("deployment.allowed_origins", "")]).await;
    assert_eq!(preflight(&none, "https://app.example.com").await.header("access-control-allow-origin"), None);
}

pub(crate) async fn cors_allow_credentials() {
    let origin = ("deployment.allowed_origins", "https://app.example.com");
    let with = start(&[origin, ("deployment.cors_allow_credentials", "true")]).await;
    assert_eq!(
        preflight(&with, "https://app.example.com").await.header("access-control-allow-credentials"),
        Some("true")
    );
    let without = start(&[origin]).await;
    assert_eq!(preflight(&without, "https://app.example.com").await.header("access-control-allow-credentials"), None);
    let error = build_error(
        Profile::Development,
        &[("deployment.allowed_origins", "*"), ("deployment.cors_allow_credentials", "true")],
    )
    .await;
    assert!(error.contains("cannot be combined with cors_allow_credentials"), "{error}");
}

pub(crate) async fn x_frame_options() {
    let answer = hello(&start(&[("deployment.x_frame_options", "SAMEORIGIN")]).await).await;
    assert_eq!(answer.header("x-frame-options"), Some("SAMEORIGIN"));
    let error = build_error(Profile::Development, &[("deployment.x_frame_options", "DENY\u{7}")]).await;
    assert!(error.starts_with("deployment.x_frame_options is not a valid header value"), "{error}");
}

pub(crate) async fn content_type_nosniff() {
    assert_eq!(hello(&start(&[]).await).await.header("x-content-type-options"), Some("nosniff"));
    let off = hello(&start(&[("deployment.content_type_nosniff", "false")]).await).await;
    assert_eq!(off.header("x-content-type-options"), None);
}

pub(crate) async fn referrer_policy() {
    let answer = hello(&start(&[("deployment.referrer_policy", "no-referrer")]).await).await;
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
}

pub(crate) async fn secret_key() {
    let app = start(&[]).await;
    // The stack signs with the configured key: a service with the same key accepts its tokens.
    let same = TokenService::new(
        TokenConfig::new(integration_tests::myapp::TEST_SECRET_KEY).unwrap(),
        RevocationStore::memory(),
    );
    let token = app.token(5, &[]);
    assert_eq!(same.verify(&token, None).await.unwrap().sub, "5");
    let other = TokenService::new(
        TokenConfig::new("another-secret-key-of-at-least-32-bytes!").unwrap(),
        RevocationStore::memory(),
    );
    assert!(other.verify(&token, None).await.is_err());
    assert!(!format!("{:?}", app.security).contains(integration_tests::myapp::TEST_SECRET_KEY));
    let error = build_error(Profile::Development, &[("deployment.secret_key", "")]).await;
    assert!(error.starts_with("deployment.secret_key is not set"), "{error}");
    let error = build_error(Profile::Development, &[("deployment.secret_key", "too-short")]).await;
    assert!(error.starts_with("deployment.secret_key: the token secret must be at least 32 bytes"), "{error}");
    assert!(!error.contains("too-short"), "{error}");
}

async fn client_seen(app: &App, forwarded_for: &str) -> String {
    let answer = app
        .send(
            client()
                .post(format!("{}/graphql", app.base))
                .header("x-forwarded-for", forwarded_for)
                .json(&serde_json::json!({"query": "{ client }"})),
        )
        .await;
    answer.body["data"]["client"].as_str().unwrap().to_owned()
}

pub(crate) async fn behind_proxy() {
    let proxied = start(&[("deployment.behind_proxy", "true"), ("deployment.trusted_proxies", "127.0.0.1")]).await;
    assert_eq!(client_seen(&proxied, "203.0.113.9").await, "203.0.113.9");
    let direct = start(&[]).await;
    assert_eq!(client_seen(&direct, "203.0.113.9").await, "127.0.0.1", "no proxy: the header is not believed");
    let error = load(&Profile::Development, direct.dir.path(), &[("deployment.behind_proxy", "true")]).unwrap_err();
    assert!(error.contains("sets behind_proxy but no trusted_proxies"), "{error}");
}

pub(crate) async fn trusted_proxies() {
    // The peer (127.0.0.1) is not in the trusted network: its header is ignored.
    let app = start(&[("deployment.behind_proxy", "true"), ("deployment.trusted_proxies", "10.0.0.0/8")]).await;
    assert_eq!(client_seen(&app, "203.0.113.9").await, "127.0.0.1");
    let trusted = start(&[("deployment.behind_proxy", "true"), ("deployment.trusted_proxies", "127.0.0.0/8")]).await;
    assert_eq!(client_seen(&trusted, "198.51.100.7").await, "198.51.100.7");
    let error = load(
        &Profile::Development,
        app.dir.path(),
        &[("deployment.behind_proxy", "true"), ("deployment.trusted_proxies", "my-proxy")],
    )
    .unwrap_err();
    assert!(error.contains("invalid trusted proxy `my-proxy`"), "{error}");
}

const INTROSPECT: &str = "{ __schema { queryType { name } } }";

pub(crate) async fn introspection() {
    let on = start(&[("deployment.introspection", "true")]).await;
    assert_eq!(on.gql(INTROSPECT).await.body["data"]["__schema"]["queryType"]["name"], "Query");
    let off = start(&[("deployment.introspection", "false")]).await;
    let answer = off.gql(INTROSPECT).await;
    assert_eq!(answer.body["data"]["__schema"], serde_json::Value::Null, "{answer:?}");
    assert_eq!(off.gql("{ hello }").await.body["data"]["hello"], "world");
}

pub(crate) async fn playground() {
    let on = start(&[("deployment.playground", "true")]).await;
    let page = on.send(client().get(format!("{}/graphql", on.base))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.as_str().unwrap().contains("graphiql"), "the GraphiQL page");
    let off = start(&[("deployment.playground", "false")]).await;
    assert_eq!(off.send(client().get(format!("{}/graphql", off.base))).await.status, 405);
}

pub(crate) async fn max_query_depth() {
    let app = start(&[("deployment.max_query_depth", "3")]).await;
    assert_eq!(app.gql("{ tree { child { leaf } } }").await.body["data"]["tree"]["child"]["leaf"], 1);
    let deep = app.gql("{ tree { child { child { child { leaf } } } } }").await;
    assert!(deep.message().contains("nested too deep"), "{deep:?}");
}

pub(crate) async fn max_query_complexity() {
    let app = start(&[("deployment.max_query_complexity", "3")]).await;
    assert_eq!(app.gql("{ hello }").await.body["data"]["hello"], "world");
    let wide = app.gql("{ hello me client tree { leaf } }").await;
    assert!(wide.message().contains("too complex"), "{wide:?}");
}

pub(crate) async fn max_field_occurrences() {
    let app = start(&[("deployment.max_field_occurrences", "2")]).await;
    let twice = app.gql("{ a: hello b: hello }").await;
    assert_eq!(twice.body["data"]["b"], "world", "{twice:?}");
    let thrice = app.gql("{ a: hello b: hello c: hello }").await;
    assert_eq!(thrice.body["errors"][0]["extensions"]["code"], "FIELD_REPEATED", "{thrice:?}");
    assert!(thrice.body["data"].is_null(), "refused before anything ran: {thrice:?}");
    let off = start(&[("deployment.max_field_occurrences", "0")]).await;
    let many = off.gql("{ a: hello b: hello c: hello d: hello e: hello }").await;
    assert_eq!(many.body["data"]["e"], "world", "0 turns the limit off: {many:?}");
}

pub(crate) async fn max_request_body_bytes() {
    let app = start(&[("deployment.max_request_body_bytes", "2048")]).await;
    let padding = " ".repeat(4096);
    let big = app
        .send(
            client()
                .post(format!("{}/graphql", app.base))
                .header("content-type", "application/json")
                .body(format!("{{\"query\": \"{{ hello }}\"{padding}}}")),
        )
        .await;
    assert_eq!((big.status, big.code()), (413, Some("PAYLOAD_TOO_LARGE")));
    assert!(big.header("x-request-id").is_some(), "refused inside the security layer");
    // Without Content-Length (chunked), the limit trips while reading: 413 as well.
    let chunked = raw_chunked_post(&app, &format!("{{\"query\": \"{{ hello }}\"{padding}}}")).await;
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert!(chunked.contains("PAYLOAD_TOO_LARGE"), "{chunked}");
    assert_eq!(hello(&app).await.status, 200);
    let default = start(&[]).await;
    let ok = default
        .send(
            client()
                .post(format!("{}/graphql", default.base))
                .header("content-type", "application/json")
                .body(format!("{{\"query\": \"{{ hello }}\"{padding}}}")),
        )
        .await;
    assert_eq!(ok.status, 200, "4 KiB is under the 1 MiB default");
}

/// POSTs `body` to /graphql with `Transfer-Encoding: chunked` (no Content-Length) over a raw
/// socket and returns the whole response.
async fn raw_chunked_post(app: &App, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn multipart(app: &App) -> reqwest::RequestBuilder {
    let boundary = "XbOuNdArY";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{{\"query\": \"{{ hello }}\"}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{}}\r\n--{boundary}--\r\n"
    );
    client()
        .post(format!("{}/graphql", app.base))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
}

pub(crate) async fn multipart_uploads() {
    let off = start(&[]).await;
    let refused = off.send(multipart(&off)).await;
    assert_eq!((refused.status, refused.code()), (415, Some("UNSUPPORTED_MEDIA_TYPE")));
    let on = start(&[("deployment.multipart", "true")]).await;
    let answer = on.send(multipart(&on)).await;
    assert_eq!(answer.body["data"]["hello"], "world", "{answer:?}");
}
