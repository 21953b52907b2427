/**
 * Discovery: sources outside the pooler (Patroni's REST API, the Cloud SQL Admin API, DigitalOcean's API) that
 * tell which servers a database has. Each look at a source becomes an {@link dev.pggat.pooler.routing.EndpointSet}
 * applied through the same path as the admin API and the operator's stream; while a source fails, the last set it
 * gave stays in use.
 */
package dev.pggat.pooler.discovery;
