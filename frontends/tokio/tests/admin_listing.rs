//! `AdminClient::grants` follows the real server's `Link` headers through
//! every page of `GET /v1/grants` and gets what the unpaged listing holds.

mod real_server;

use real_server::*;
use std::time::Duration;
use tenure_tokio::AdminClient;

#[tokio::test]
async fn the_client_reads_every_page_of_the_listing() {
    let setup = Setup::new(3600, 100);
    let server = Server::start(&setup, 0, &[]);
    for i in 1..=7 {
        let body = format!(r#"{{"product":"vdp","hostname":"list-{i}","port":1,"cores":1}}"#);
        let answer = http(&server.url, "POST", "/v1/grants", None, Some(&body));
        assert_eq!(answer.map(|(s, _)| s), Some(201), "grant {i}");
    }
    let (status, body) = server.admin("GET", "/v1/grants");
    assert_eq!(status, 200, "{body}");
    let unpaged: Vec<serde_json::Value> = serde_json::from_str(&body).expect("listing json");
    let mut expected: Vec<String> = unpaged
        .iter()
        .filter_map(|g| g["grant_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(expected.len(), 7);

    let client =
        AdminClient::new(&server.url, TOKEN.into(), None, Duration::from_secs(10)).expect("client");
    for page in [1, 2, 3, 7, 10_000] {
        let grants = client.grants_in_pages(page).await.expect("pages");
        let hosts: Vec<String> = grants
            .iter()
            .map(|g| g.instance.hostname.to_string())
            .collect();
        let mut sorted = hosts.clone();
        sorted.sort();
        assert_eq!(hosts, sorted, "sorted by instance (page {page})");
        let mut ids: Vec<String> = grants.iter().map(|g| g.grant_id.to_string()).collect();
        ids.sort();
        expected.sort();
        assert_eq!(ids, expected, "every grant once (page {page})");
    }
}
