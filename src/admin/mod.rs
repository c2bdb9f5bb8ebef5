//! Operator window into a running carry: the admin socket server and its client.
