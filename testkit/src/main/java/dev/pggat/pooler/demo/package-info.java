/**
 * Real PostgreSQL servers for {@code pggat demo} and for tests: {@link dev.pggat.pooler.demo.PostgresCluster}
 * starts a primary and streaming replicas from installed or embedded binaries ({@link
 * dev.pggat.pooler.demo.PostgresBinaries}).
 */
package dev.pggat.pooler.demo;
