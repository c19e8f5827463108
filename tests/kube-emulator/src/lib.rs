//! An in-process emulation of the Kubernetes API server for Plumbline's tests, spoken to over HTTP
