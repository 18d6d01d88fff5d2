import ArgumentParser

@main
struct Camwatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch training checkpoints and track how Score-CAM saliency drifts."
    )
}
