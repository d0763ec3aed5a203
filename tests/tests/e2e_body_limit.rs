//! Issue 14, item 10, reproduced against the demo server over real HTTP: a 50 MB JSON body and
//! a 30 MB multipart upload were accepted (670 MB of memory). The default limit (1 MiB,
//! `deployment.max_request_body_bytes`) answers 413 whether the size is declared or the body
//! is streamed; multipart is refused (415) unless `deployment.multipart` enables it; the
//! ordinary request next to them still works.

mod e2e;

use e2e::sqlite_server;
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;

/// A JSON GraphQL request padded with spaces to `size` bytes.
fn padded_query(size: usize) -> String {
    let query = r#"{"query": "{ __typename }"}"#;
    format!("{query}{}", " ".repeat(size.saturating_sub(query.len())))
}

async fn code(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error body");
    (status, body["errors"][0]["extensions"]["code"].clone())
}

/// Posts `chunks` chunks of 1 MiB (a JSON request padded with spaces) with
/// `Transfer-Encoding: chunked`; returns the raw response. The server may answer and close
/// before everything is sent: writes after that fail and are ignored.
async fn chunked_post(url: &str, chunks: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://").trim_end_matches("/graphql");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("send the head");
    for i in 0..chunks {
        let chunk = if i == 0 { padded_query(MIB) } else { " ".repeat(MIB) };
        if stream.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_fifty_megabyte_body_is_refused_with_413() {
    let (_t, server) = sqlite_server(false).await;
    let client = reqwest::Client::new();

    // Declared with Content-Length.
    let response = client
        .post(&server.url)
        .header("content-type", "application/json")
        .body(padded_query(50 * MIB))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(code(response).await, (413, json!("PAYLOAD_TOO_LARGE")));

    // Streamed without a length (chunked, 50 chunks of 1 MiB): refused while being read.
    let response = chunked_post(&server.url, 50).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("PAYLOAD_TOO_LARGE"), "{response}");

    // Just under the limit is served.
    let response = client
        .post(&server.url)
        .header("content-type", "application/json")
        .body(padded_query(MIB - 1024))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}

#[tokio::test]
async fn a_thirty_megabyte_multipart_upload_is_refused() {
    let (_t, server) = sqlite_server(false).await;
    let boundary = "rail-boundary-7f3a";
    let operations = r#"{"query": "{ __typename }", "variables": {"file": null}}"#;
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.file\"]}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n{}\r\n--{boundary}--\r\n",
        "x".repeat(30 * MIB)
    );
    let response = reqwest::Client::new()
        .post(&server.url)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("the server answers");
    // Refused from its headers, before the body is read: multipart is off.
    assert_eq!(code(response).await, (415, json!("UNSUPPORTED_MEDIA_TYPE")));

    // A small multipart request is refused too: uploads are off unless enabled.
    let small = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n--{boundary}--\r\n"
    );
    let response = reqwest::Client::new()
        .post(&server.url)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(small)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(code(response).await, (415, json!("UNSUPPORTED_MEDIA_TYPE")));
}
