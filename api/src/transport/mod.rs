//! The transports: how clients reach the use cases in `app`. `graphql` is the schema (the
//! API's shape); `http` and `ws` are the carriers that serve it (and REST ingest, exports,
//! OAuth and health over HTTP). Carriers never import each other.

pub mod graphql;
pub mod http;
pub mod ws;
