//! Logs, and traces of an event's path exported over OTLP.
//!
//! With `--otlp-endpoint` every ingestion request starts a trace, and each stage the events it
//! carried pass through adds a span to it: `ingest` (the HTTP request) → `store.commit` →
//! `index.apply` → `engine.evaluate` → `alert.raised` → `webhook.attempt` (a child of the alert
//! it sends). The spans of one trace share the request's trace id, so a collector (Jaeger,
//! Tempo, Honeycomb…) shows how long an event took from the sender to a receiver's webhook.
//!
//! These spans have their own target, [`PATH`]: the OTLP layer exports only them, and the log
//! layer never sees them, so that without `--otlp-endpoint` they are disabled at their call
//! sites and cost next to nothing.

use std::{ops::Range, time::Duration};

use opentelemetry::{propagation::TextMapPropagator, trace::TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider, Resource};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

/// The target of the spans that make up an event's path (see the module's documentation).
pub const PATH: &str = "wayline_path";

/// How long one export to the collector may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "--otlp-endpoint {0:?} is not a collector address; give its OTLP/HTTP base, \
         e.g. http://127.0.0.1:4318 (traces go to /v1/traces under it)"
    )]
    Endpoint(String),
    #[error("could not start the OTLP exporter: {0}")]
    Exporter(String),
    #[error("could not install the log and trace subscriber: {0}")]
    Install(String),
}

/// Keeps the trace exporter running; [`Telemetry::shutdown`] sends what is still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends every span ended so far to the collector, and waits for the answer.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            if let Err(e) = provider.force_flush() {
                tracing::warn!(error = %e, "could not send the last traces to the collector");
            }
        }
    }

    /// Sends what is buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                tracing::warn!(error = %e, "could not send the last traces to the collector");
            }
        }
    }
}

/// Installs the process's subscriber: logs on stderr (filtered by `RUST_LOG`, default
/// `info`), and, with `otlp_endpoint`, the event path's spans exported to that collector.
/// Call once, inside the Tokio runtime (the exporter sends through it).
pub fn init(otlp_endpoint: Option<&str>) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"))
        .add_directive(format!("{PATH}=off").parse().expect("a valid directive"));
    let logs = tracing_subscriber::fmt::layer()
        // Logs go to stderr so that a command's own output (a new write key, say) stays clean.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    let provider = otlp_endpoint.map(exporter).transpose()?;
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("wayline"))
            .with_filter(Targets::new().with_target(PATH, tracing::Level::INFO))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .map_err(|e| TelemetryError::Install(e.to_string()))?;
    if let Some(endpoint) = otlp_endpoint {
        tracing::info!(endpoint, "traces of each event's path are exported over OTLP");
    }
    Ok(Telemetry { provider })
}

/// The OTLP/HTTP (protobuf) exporter for `endpoint`, batching spans on its own thread.
/// Sampling follows the standard `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
fn exporter(endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let url = traces_url(endpoint)?;
    let client = Collector {
        client: reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?,
        runtime: tokio::runtime::Handle::try_current().map_err(|e| TelemetryError::Exporter(e.to_string()))?,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(client)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let resource = Resource::builder().with_service_name("wayline").build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The collector's base address with the traces path added, as `OTEL_EXPORTER_OTLP_ENDPOINT`
/// is read (an address that already names `/v1/traces` is kept).
fn traces_url(endpoint: &str) -> Result<String, TelemetryError> {
    let parsed = reqwest::Url::parse(endpoint).map_err(|_| TelemetryError::Endpoint(endpoint.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(TelemetryError::Endpoint(endpoint.to_string()));
    }
    let base = endpoint.trim_end_matches('/');
    Ok(if base.ends_with("/v1/traces") { base.to_string() } else { format!("{base}/v1/traces") })
}

/// Sends the exporter's requests with the reqwest client Wayline already has. The exporter
/// calls from its own thread, outside Tokio, so the request runs as a task on the runtime.
#[derive(Debug)]
struct Collector {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Collector {
    async fn send_bytes(
        &self,
        request: axum::http::Request<bytes::Bytes>,
    ) -> Result<axum::http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let (status, body) = self
            .runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let status = response.status();
                Ok::<_, reqwest::Error>((status, response.bytes().await?))
            })
            .await??;
        Ok(axum::http::Response::builder().status(status).body(body)?)
    }
}

/// Where a stage's span hangs in a traced path: the OpenTelemetry context of the span before
/// it (none when the path is not traced). Stages keep this, not the `tracing` span itself, so
/// that a span ends when its own work does, however long later stages hold on to their cause
/// (an alert's webhook retries, a batch kept for the live stream).
#[derive(Debug, Clone, Default)]
pub struct Cause(Option<opentelemetry::Context>);

impl Cause {
    /// Nothing traced.
    pub fn none() -> Self {
        Cause(None)
    }

    /// `span`'s place, when it is exported.
    pub fn of(span: &tracing::Span) -> Self {
        let context = span.context();
        Cause(opentelemetry::trace::TraceContextExt::has_active_span(&context).then_some(context))
    }

    /// The current span's place, when it is an event path's (an ingestion request being traced).
    pub fn current() -> Self {
        let span = tracing::Span::current();
        match span.metadata() {
            Some(meta) if meta.target() == PATH => Self::of(&span),
            _ => Self::none(),
        }
    }

    pub fn is_traced(&self) -> bool {
        self.0.is_some()
    }

    /// Hangs `span` (made with no parent) under this cause; `span` itself when nothing is traced.
    pub fn adopt(&self, span: tracing::Span) -> tracing::Span {
        if let Some(context) = &self.0 {
            // Fails only for a span already started, and these are new.
            let _ = span.set_parent(context.clone());
        }
        span
    }
}

/// Causes are equal when they name the same span (batches compare in tests).
impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        use opentelemetry::trace::TraceContextExt;
        let id = |c: &Cause| c.0.as_ref().map(|cx| cx.span().span_context().clone());
        id(self) == id(other)
    }
}

/// A span of an event's path under `cause` (disabled when `cause` is not traced), with the
/// given name (a literal) and fields; it ends when dropped.
#[macro_export]
macro_rules! path_span {
    ($cause:expr, $name:literal $(, $($fields:tt)*)?) => {{
        let cause: &$crate::telemetry::Cause = $cause;
        if cause.is_traced() {
            cause.adopt(tracing::info_span!(target: $crate::telemetry::PATH, parent: None, $name $(, $($fields)*)?))
        } else {
            tracing::Span::none()
        }
    }};
}

/// The requests in a committed batch whose path is traced: the sequence numbers each got, and
/// the request's place in its trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Traced {
    pub seqs: Range<i64>,
    pub cause: Cause,
}

/// The traced request whose events include `seq`.
pub fn request_of(traced: &[Traced], seq: i64) -> Option<&Traced> {
    traced.iter().find(|t| t.seqs.contains(&seq))
}

/// A stage's span in each traced request of `traced` (`name` a literal); they end when the
/// returned spans are dropped.
#[macro_export]
macro_rules! stage_spans {
    ($traced:expr, $name:literal) => {
        $traced.iter().map(|t| $crate::path_span!(&t.cause, $name)).collect::<Vec<tracing::Span>>()
    };
}

/// The W3C `traceparent` header of `span`, for a request that continues its trace (a
/// webhook's receiver), when the span is exported.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove("traceparent")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collector_address_gets_the_traces_path_once() {
        assert_eq!(traces_url("http://127.0.0.1:4318").unwrap(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://otel:4318/").unwrap(), "http://otel:4318/v1/traces");
        assert_eq!(traces_url("https://otel.example/v1/traces").unwrap(), "https://otel.example/v1/traces");
        let refused = traces_url("otel:4318").unwrap_err().to_string();
        assert!(refused.contains("http://127.0.0.1:4318"), "{refused}");
        assert!(traces_url("grpc://otel:4317").is_err());
    }

    #[test]
    fn a_stage_finds_the_request_that_carried_an_event() {
        let traced = vec![Traced { seqs: 10..13, cause: Cause::none() }, Traced { seqs: 13..14, cause: Cause::none() }];
        let seqs = |seq| request_of(&traced, seq).map(|t| t.seqs.clone());
        assert_eq!(seqs(10), Some(10..13));
        assert_eq!(seqs(12), Some(10..13));
        assert_eq!(seqs(13), Some(13..14));
        assert_eq!(seqs(14), None);
        assert_eq!(seqs(9), None);
        // Nothing is traced without an exported path span around the caller.
        assert!(!Cause::current().is_traced());
        assert!(crate::path_span!(&Cause::none(), "nothing").id().is_none());
    }
}
