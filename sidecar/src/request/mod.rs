//! The request path: where a request goes (`destination`, `identify`), what it says
//! (`codec`), whether it may (`decide`, with `extauth` and `ratelimit`), sending it
//! (`forward`, `connect` for tunnels), what comes back (`filter`), and the record and
//! answer of every outcome (`audit`, `respond`). `pipeline` puts the stages in order;
//! `inbound` is the same path for calls other agents make to this one over mTLS.

pub mod audit;
pub mod body;
pub mod codec;
pub mod connect;
pub mod decide;
pub mod destination;
pub mod extauth;
pub mod filter;
pub mod forward;
pub mod identify;
pub mod inbound;
pub mod opaque;
pub mod pipeline;
pub mod proxy;
pub mod ratelimit;
pub mod respond;
pub mod trace;
