//! The CLI's side of the API: finds the daemon and its token through the same
//! configuration the daemon reads.

use crate::config::Config;
use crate::security::read_token;
use anyhow::{Context, bail};
use serde_json::Value;
use std::time::Duration;

pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let token = read_token(&config.token_path()).with_context(|| {
            format!(
                "cannot read the API token at {} (has `clipshot serve` run with this data dir?)",
                config.token_path().display()
            )
        })?;
        let host = if config.host.is_unspecified() { "127.0.0.1".to_owned() } else { config.host.to_string() };
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        Ok(Self {
            base: format!("http://{host}:{}", config.port),
            token,
            http: reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?,
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.bearer_auth(&self.token).send().await.with_context(|| {
            format!("cannot reach the ClipShot daemon at {} (is `clipshot serve` running?)", self.base)
        })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let detail = body["detail"].as_str().unwrap_or("no detail");
            bail!("the daemon answered {status}: {detail}");
        }
        Ok(body)
    }

    /// A one-time link that logs a browser into the dashboard.
    pub async fn dashboard_link(&self) -> anyhow::Result<String> {
        let code = self.call(self.http.post(format!("{}/api/v1/ui/codes", self.base))).await?;
        let path = code["path"].as_str().context("the daemon's answer has no path")?;
        Ok(format!("{}{path}", self.base))
    }

    /// Saves the last `seconds` of `pipeline` (the daemon's default when `None`).
    pub async fn save_clip(&self, pipeline: Option<&str>, seconds: Option<f64>) -> anyhow::Result<Value> {
        let id = match pipeline {
            Some(id) => id.to_owned(),
            None => {
                let list = self.call(self.http.get(format!("{}/api/v1/pipelines", self.base))).await?;
                let default = list.as_array().and_then(|l| l.iter().find(|p| p["default"] == true));
                match default.and_then(|p| p["id"].as_str()) {
                    Some(id) => id.to_owned(),
                    None => bail!("the daemon runs no default pipeline"),
                }
            }
        };
        let mut body = serde_json::Map::new();
        if let Some(s) = seconds {
            body.insert("seconds".into(), s.into());
        }
        self.call(self.http.post(format!("{}/api/v1/pipelines/{id}/replay/save", self.base)).json(&body)).await
    }

    /// `GET` a path of the API.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.http.get(format!("{}{path}", self.base))).await
    }

    /// `POST` a JSON body to a path of the API.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(self.http.post(format!("{}{path}", self.base)).json(body)).await
    }
}
