//! The steps a console case takes in the browser. Each waits for its element
//! where a page may still be loading, and fails with the locator it was
//! after, so a case reads as its steps and a failure names the one that broke.

use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};

/// What a step gives, or which step failed and why.
pub type Step<T = ()> = Result<T, String>;

/// How long a step waits for its element to appear.
const WAIT: Duration = Duration::from_secs(10);

fn failed(what: &str, at: impl std::fmt::Debug, e: impl std::fmt::Display) -> String {
    format!("{what} {at:?}: {e}")
}

/// Opens `url` in the window.
pub async fn goto(client: &Client, url: &str) -> Step {
    client.goto(url).await.map_err(|e| failed("open", url, e))
}

/// The element `at`, once it is on the page (at most [`WAIT`]).
pub async fn wait_for(client: &Client, at: Locator<'_>) -> Step<Element> {
    client
        .wait()
        .at_most(WAIT)
        .for_element(at)
        .await
        .map_err(|e| failed("wait for", at, e))
}

/// Every element `at` on the page now; none is no error.
pub async fn find_all(client: &Client, at: Locator<'_>) -> Step<Vec<Element>> {
    client.find_all(at).await.map_err(|e| failed("find", at, e))
}

/// Clicks the element `at` once it is on the page.
pub async fn click(client: &Client, at: Locator<'_>) -> Step {
    wait_for(client, at)
        .await?
        .click()
        .await
        .map_err(|e| failed("click", at, e))
}

/// Types `value` into the field `at` once it is on the page.
pub async fn fill(client: &Client, at: Locator<'_>, value: &str) -> Step {
    wait_for(client, at)
        .await?
        .send_keys(value)
        .await
        .map_err(|e| failed("type into", at, e))
}

/// The text of the element `at` once it is on the page.
pub async fn text_of(client: &Client, at: Locator<'_>) -> Step<String> {
    wait_for(client, at)
        .await?
        .text()
        .await
        .map_err(|e| failed("read", at, e))
}

/// Attribute `name` of the element `at`; a missing attribute is an error.
pub async fn attr_of(client: &Client, at: Locator<'_>, name: &str) -> Step<String> {
    wait_for(client, at)
        .await?
        .attr(name)
        .await
        .map_err(|e| failed(&format!("read {name} of"), at, e))?
        .ok_or_else(|| failed(&format!("read {name} of"), at, "no such attribute"))
}

/// The texts of the cells of the first row `at` (`td` elements), in order.
pub async fn row_texts(client: &Client, at: Locator<'_>) -> Step<Vec<String>> {
    let row = wait_for(client, at).await?;
    let cells = row
        .find_all(Locator::Css("td"))
        .await
        .map_err(|e| failed("find the cells of", at, e))?;
    let mut texts = Vec::with_capacity(cells.len());
    for c in &cells {
        texts.push(
            c.text()
                .await
                .map_err(|e| failed("read a cell of", at, e))?,
        );
    }
    Ok(texts)
}

/// Ends the browser session.
pub async fn close(client: Client) -> Step {
    client
        .close()
        .await
        .map_err(|e| format!("close the browser: {e}"))
}
