package dev.pggat.pooler.cli;

import picocli.CommandLine;

/** The version from the jar manifest, or "dev" when run from classes. */
final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
        String v = Main.class.getPackage().getImplementationVersion();
        return new String[] {"pggat " + (v == null ? "dev" : v)};
    }
}
