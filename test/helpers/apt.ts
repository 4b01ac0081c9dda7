/** apt-get with a private root (sources, state, cache under `dir`): a real client that touches no system path. */
/** `-o` options that point apt-get at the private root; `extra` are more `Name=value` settings. */
export function privateAptOptions(dir: string, extra: string[] = []): string[] {
  return [
    'Dir::Etc::sourcelist=/dev/null',
    `Dir::Etc::sourceparts=${dir}/parts`,
    `Dir::Etc::trustedparts=${dir}/empty`,
    `Dir::Etc::preferencesparts=${dir}/empty`,
    `Dir::State=${dir}/state`,
    `Dir::State::status=${dir}/status`,
    `Dir::Cache=${dir}/cache`,
    'Debug::NoLocking=1',
    'APT::Architecture=amd64',
    'APT::Sandbox::User=root',
    ...extra,
  ].flatMap((o) => ['-o', o]);
}
