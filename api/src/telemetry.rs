//! Logs and traces: `tracing` events printed pretty or as JSON (filtered by `log_level`), and,
//! when a collector is configured, spans exported over OTLP (HTTP/protobuf or gRPC) by
//! `tracing-opentelemetry`.
//!
//! Traces follow a detection from the HTTP request that brought it to the frames it caused:
//! `http.request` → `graphql` → `ingest` → `db.ingest` (its steps) → `live.notify` →
//! `live.feed_read` → `live.push`. The W3C `traceparent` of an incoming request becomes the
//! request span's parent, and the notice another instance receives through Redis carries the
//! `traceparent` of the ingest that wrote the step, so a push there joins the same trace.
//!
//! The exporter is configured by the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_BSP_*`) or by `otel_endpoint` / `otel_protocol`, which
//! win; with no endpoint at all nothing is exported and spans cost only what `tracing` costs.

use crate::config::{LogFormat, OtelProtocol, Settings};
use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Installs logging only (the one-shot commands). `RUST_LOG` wins over `level` when set.
pub fn init(format: LogFormat, level: &str) {
    install(format, level, None);
}

/// Installs logging and, when a collector is configured, span export (`podium serve`).
/// Keep the returned handle and `shut_down` it last, so the final spans are flushed.
pub fn init_with_traces(settings: &Settings) -> anyhow::Result<Traces> {
    let provider = match exporter_config(settings) {
        Some((endpoint, protocol)) => Some(provider(endpoint.as_deref(), protocol)?),
        None => None,
    };
    install(settings.log_format, &settings.log_level, provider.clone());
    Ok(Traces { provider })
}

/// The span exporter, while it runs.
pub struct Traces {
    provider: Option<SdkTracerProvider>,
}

impl Traces {
    /// Whether spans leave the process.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports what is buffered and stops the exporter.
    pub async fn shut_down(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The SDK blocks until its export task answers, and that task runs on this runtime.
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            eprintln!("podium: exporting the last spans failed: {e}");
        }
    }
}

/// Where spans go, if anywhere: podium's setting, else the standard variables (the SDK reads
/// them itself when the endpoint is `None`).
fn exporter_config(settings: &Settings) -> Option<(Option<String>, OtelProtocol)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let endpoint = settings
        .otel_endpoint
        .clone()
        .filter(|e| !e.trim().is_empty());
    let standard =
        env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"));
    if endpoint.is_none() && standard.is_none() {
        return None;
    }
    let protocol = settings.otel_protocol.unwrap_or_else(|| {
        match env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .as_deref()
        {
            Some("grpc") => OtelProtocol::Grpc,
            _ => OtelProtocol::HttpProtobuf,
        }
    });
    Some((endpoint, protocol))
}

fn provider(endpoint: Option<&str>, protocol: OtelProtocol) -> anyhow::Result<SdkTracerProvider> {
    let exporter = match protocol {
        OtelProtocol::HttpProtobuf => {
            let builder = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
            match endpoint {
                // The setting names the collector, as the standard variable does: the
                // signal's path is appended.
                Some(endpoint) => builder
                    .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
                    .build(),
                None => builder.build(),
            }
        }
        OtelProtocol::Grpc => {
            let builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
            match endpoint {
                Some(endpoint) => builder.with_endpoint(endpoint).build(),
                None => builder.build(),
            }
        }
    }
    .context("otel_endpoint: the OTLP span exporter")?;
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("podium");
    }
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource.build())
        .build())
}

fn install(format: LogFormat, level: &str, provider: Option<SdkTracerProvider>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Pretty => fmt::layer().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(filter);
    // Spans are exported whatever the log level: podium's own, at info and above.
    let spans = provider.map(|provider| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("podium"))
            .with_filter(
                Targets::new()
                    .with_target("podium_api", LevelFilter::INFO)
                    .with_target("podium_persistence", LevelFilter::INFO),
            )
    });
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init();
}

/// A reference to a span elsewhere (another instance, a client): what a W3C `traceparent`
/// carries. Small and `Copy`, so it can ride on a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRef {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
}

impl TraceRef {
    /// The current span, when it is being exported.
    pub fn current() -> Option<Self> {
        Self::of(&tracing::Span::current().context())
    }

    /// The span of `context`, when it holds a valid one.
    fn of(context: &opentelemetry::Context) -> Option<Self> {
        let span = context.span();
        let span = span.span_context();
        span.is_valid().then(|| Self {
            trace_id: span.trace_id(),
            span_id: span.span_id(),
            flags: span.trace_flags(),
        })
    }

    /// `00-<trace id>-<span id>-<flags>`.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.span_id,
            self.flags.to_u8()
        )
    }

    /// A `traceparent` header's value (version 00); `None` when it is not one.
    pub fn parse(traceparent: &str) -> Option<Self> {
        Self::of(&TraceContextPropagator::new().extract(&One(traceparent)))
    }

    /// Makes `span` a child of this one.
    pub fn adopt(&self, span: &tracing::Span) {
        let remote = SpanContext::new(
            self.trace_id,
            self.span_id,
            self.flags,
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
}

/// A carrier holding one `traceparent`.
struct One<'a>(&'a str);

impl Extractor for One<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// Renames `span` once it has started (a `otel.name` recorded late is ignored then).
pub fn rename(span: &tracing::Span, name: String) {
    if !span.is_disabled() {
        span.context().span().update_name(name);
    }
}

/// Makes `span` a child of the caller's span named by a W3C `traceparent` header, if any.
pub fn adopt_traceparent(span: &tracing::Span, headers: &http::HeaderMap) {
    if let Some(parent) = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceRef::parse)
    {
        parent.adopt(span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips_and_garbage_is_none() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceRef::parse(header).unwrap();
        assert_eq!(parsed.traceparent(), header);
        assert_eq!(
            parsed.trace_id.to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceRef::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn no_span_is_exported_without_an_endpoint() {
        let settings = Settings::default();
        if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
            && std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
        {
            assert!(exporter_config(&settings).is_none());
        }
        let configured = Settings {
            otel_endpoint: Some("http://collector:4317".into()),
            otel_protocol: Some(OtelProtocol::Grpc),
            ..Settings::default()
        };
        assert_eq!(
            exporter_config(&configured),
            Some((Some("http://collector:4317".into()), OtelProtocol::Grpc))
        );
    }
}
