//! `carry journal verify|dump|stats`: inspect a journal directory.
