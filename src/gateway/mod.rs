//! Order gateways: the interface the engine hands journaled intents to, and its implementations.
