// Package mesoswire is what the Mesos v1 HTTP APIs of the master (the
// scheduler API) and of the agent (the executor API) share: the two media
// types and their negotiation by Content-Type and Accept as Mesos does it,
// decoding calls and encoding events in either, the plain-text errors
// Mesos answers with, and the rules that map Mesos task IDs and data onto
// kubemesos Tasks.
package mesoswire
