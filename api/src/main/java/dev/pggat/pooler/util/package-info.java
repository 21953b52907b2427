/** Small helpers shared by several packages, with no dependency on the rest of the pooler. */
package dev.pggat.pooler.util;
