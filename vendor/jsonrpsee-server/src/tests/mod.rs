mod helpers;
mod http;
mod shared;
mod ws;
