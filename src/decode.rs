//! `carry decode`: raw venue messages in, normalized events out.
