public import ArgumentParser
public import CamwatchSaliency

// `--method gradcam`: parsed into the library's enum, its raw values listed in --help.
extension CAMMethod: ExpressibleByArgument {}
