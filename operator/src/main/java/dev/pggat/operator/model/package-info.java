/**
 * Pure functions from a PgPool and what was discovered about its cluster to the Kubernetes objects the operator
 * wants. Nothing here talks to an API server, so every rule is unit-testable without one.
 */
package dev.pggat.operator.model;
