//! Product images, stored in the shop's own file: uploads checked and re-encoded
//! ([`process`]), rows and bytes ([`store`]), and the endpoints ([`routes`]).

pub mod process;
pub mod routes;
pub mod store;
