// `dicekit train --regions`: region-based training (nnU-Net's regions, MONAI's BraTS recipe,
// smp's multilabel mode): one sigmoid output per region of labels, trained with the sigmoid form
// of a loss (`RegionLoss`), scored and written back as label maps (`LabelRegions`).

import DiceKit

extension TrainCommand {
    static let regionHelp = """
        regions (overlapping structures: tumour sub-regions, nested organs)
          --regions R;R;…        region-based training (nnU-Net's regions, MONAI's BraTS recipe): one
                                 sigmoid output per region of labels, e.g. 1,2,3;2,3;3 (whole tumour,
                                 tumour core, enhancing); a dataset.json whose labels are regions sets them.
                                 Losses (sigmoid form): dice, dice-ce (+ binary cross-entropy: nnU-Net's),
                                 jaccard, tversky, focal-tversky, log-cosh-dice, generalized, focal,
                                 dice-focal, generalized-dice-focal, lovasz-hinge, mcc. Validation, eval
                                 and predict score each region; predict writes the labels back
          --region-order L,L,…   the label each region writes where it is predicted, region by region
                                 (nnU-Net's regions_class_order; default: each region's smallest label
                                 that no later region holds)
        """

    static let regionValueOptions: Set<String> = ["regions", "region-order"]

    /// `--regions` (with `--region-order`), or the regions of the data's dataset.json; nil for
    /// class-based training.
    ///
    /// - Throws: `UsageError` for regions given both ways, an order without regions, regions that
    ///   do not parse or a `--class-weights auto` / `--ce-class-weights auto` with them.
    static func regions(_ arguments: ParsedArguments, data: DataOptions) throws -> LabelRegions? {
        let order = arguments.string("region-order")
        guard let text = arguments.string("regions") else {
            if let order, data.datasetRegions == nil {
                throw UsageError(message: "--region-order \(order) needs --regions (or a dataset.json with regions)")
            }
            if let order, let regions = data.datasetRegions, order != regions.orderDescription {
                throw UsageError(
                    message:
                        "--region-order \(order) disagrees with the dataset.json's regions_class_order \(regions.orderDescription)"
                )
            }
            return try data.datasetRegions.map { try checked($0, arguments) }
        }
        let regions: LabelRegions
        do { regions = try LabelRegions(parsing: text, order: order) } catch let error as DiceKitError {
            throw UsageError(message: "--regions: \(error.description)")
        }
        if let listed = data.datasetRegions, listed.regions != regions.regions || listed.order != regions.order {
            throw UsageError(
                message:
                    "--regions \(regions.description) disagrees with the dataset.json's regions \(listed.description) (order \(listed.orderDescription)); drop --regions"
            )
        }
        return try checked(data.datasetRegions ?? regions, arguments)
    }

    private static func checked(_ regions: LabelRegions, _ arguments: ParsedArguments) throws -> LabelRegions {
        for option in ["class-weights", "ce-class-weights"] where arguments.string(option) == "auto" {
            throw UsageError(
                message:
                    "--\(option) auto balances classes, not regions; expected one weight per region (\(regions.count))")
        }
        return regions
    }
}
